"""A burst of uploads drained from the blob-event queue: one index run per batch against one per event.

    .venv/bin/python -m benchmarks.drain_burst [--initial 50] [--burst 50] [--repeats 3]

Starts Azurite (Blob and Queue, in memory) and the embedded PostgreSQL. Each repeat indexes
``--initial`` generated images into a fresh container and database (the first run fits and publishes;
not timed), then uploads ``--burst`` more, puts one Event Grid BlobCreated message per upload on the
queue, and times ``drain-queue``'s path (indexing.drain.drain_configured_queue with the CLI's index
run) twice side by side: batched (INDEX_QUEUE_BATCH 5000, what the job runs) and one run per event
(INDEX_QUEUE_BATCH 1, what a job per blob would do). The tiny captioner, in this process: the
per-run cost here is the run's own (listing, database session, models, bundle), not a container's
start, which in Azure adds about a minute per execution.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AZURITE = ROOT / "tools" / "azurite" / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
MODES = {"batched": 5000, "per event": 1}  # INDEX_QUEUE_BATCH


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def azurite(workdir: Path) -> Iterator[str]:
    """Azurite's Blob and Queue services; yields a connection string for both."""
    blob, queue, table = _free_port(), _free_port(), _free_port()
    args = [str(AZURITE), "--blobPort", str(blob), "--queuePort", str(queue), "--tablePort", str(table)]
    args += ["--inMemoryPersistence", "--silent", "--loose", "--skipApiVersionCheck", "--disableTelemetry"]
    process = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        for port in (blob, queue):
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"Azurite did not listen on {port}") from None
                    time.sleep(0.1)
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{blob}/{ACCOUNT};QueueEndpoint=http://127.0.0.1:{queue}/{ACCOUNT};"
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def blob_created(container: str, name: str) -> str:
    """One queue message as Event Grid writes it: a BlobCreated event, base64 JSON."""
    event = {
        "topic": f"/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}",
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "id": str(uuid.uuid4()),
        "data": {"api": "PutBlob", "blobType": "BlockBlob"},
        "dataVersion": "",
        "metadataVersion": "1",
    }
    return base64.b64encode(json.dumps(event).encode()).decode()


def create_database(admin_dsn: str) -> str:
    import psycopg2
    from psycopg2.extensions import make_dsn, parse_dsn

    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')  # a generated name, not input
    conn.close()
    return str(make_dsn(**{**parse_dsn(admin_dsn), "dbname": name}))


def one_burst(mode: str, args: argparse.Namespace, base: dict[str, str], scratch: Path) -> tuple[float, int]:
    """Seconds to drain ``args.burst`` upload events in ``mode``, and the index runs it took."""
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueClient

    from indexing.cli import build_parser, cmd_index
    from indexing.drain import drain_configured_queue
    from indexing.settings import IndexSettings
    from training.synthetic import make_shapes

    tag = uuid.uuid4().hex[:8]
    container, queue_name = f"images-{tag}", f"events-{tag}"
    connection = base["INDEX_QUEUE_CONNECTION_STRING"]
    blobs = BlobServiceClient.from_connection_string(connection).create_container(container)
    QueueClient.from_connection_string(connection, queue_name).create_queue()
    env = {
        **base,
        "DATABASE_URL": create_database(base["DATABASE_URL"]),
        "MODEL_SHARE_PATH": str(scratch / tag / "share"),
        "INDEX_LOG_DIR": str(scratch / tag / "logs"),
        "IMAGES_CONTAINER": container,
        "INDEX_QUEUE_NAME": queue_name,
        "INDEX_QUEUE_BATCH": str(MODES[mode]),
    }
    settings = IndexSettings.from_env(env)
    index_args = build_parser().parse_args(["index", "--no-progress", "--pca-dim", "8", "--clusters", "4"])
    folder = scratch / tag / "images"
    for name in make_shapes(folder, args.initial):
        blobs.upload_blob(name, (folder / name).read_bytes())
    cmd_index(settings, index_args)  # the collection before the burst: fitted and published
    queue = QueueClient.from_connection_string(connection, queue_name)
    for name in make_shapes(folder, args.burst, seed=1, start=args.initial):
        blobs.upload_blob(name, (folder / name).read_bytes())
        queue.send_message(blob_created(container, name))
    started = time.perf_counter()
    report = drain_configured_queue(settings, lambda: cmd_index(settings, index_args))
    seconds = time.perf_counter() - started
    indexed = sum(run.indexed for run in report.runs)
    assert indexed == args.burst and report.indexed_messages == args.burst, report.to_dict()
    return seconds, len(report.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--initial", type=int, default=50, help="images indexed before the burst")
    parser.add_argument("--burst", type=int, default=50, help="uploads in the burst")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import logging

    from core.database import start_embedded_postgres, stop_embedded_postgres
    from indexing.encoder_export import ensure_encoder_export
    from training.synthetic import write_tiny_checkpoint

    logging.basicConfig(level=logging.WARNING)
    scratch = Path(tempfile.mkdtemp(prefix="drain-bench-"))
    try:
        with azurite(scratch) as connection:
            base = {
                "DATABASE_URL": start_embedded_postgres(scratch / "pg"),
                "IMAGE_STORE": "blob",
                "IMAGES_CONNECTION_STRING": connection,
                "INDEX_QUEUE_CONNECTION_STRING": connection,
                "CAPTIONER_CHECKPOINT": str(write_tiny_checkpoint(scratch / "tiny.pt")),
                "ENCODER_DIR": str(ensure_encoder_export(ROOT / ".data" / "cache")),
                "INDEX_DEVICE": "cpu",
                "INDEX_WORKERS": "0",
                "INDEX_BATCH_SIZE": "8",
                "INDEX_MAX_LENGTH": "8",
                "INDEX_THREADS": "1",
            }
            results: dict[str, list[tuple[float, int]]] = {mode: [] for mode in MODES}
            for _ in range(args.repeats):
                for mode in MODES:  # alternated, so that load on the machine hits both alike
                    results[mode].append(one_burst(mode, args, base, scratch))
    finally:
        stop_embedded_postgres(scratch / "pg")
        shutil.rmtree(scratch, ignore_errors=True)
    _print(results, args)


def _print(results: dict[str, list[tuple[float, int]]], args: argparse.Namespace) -> None:
    medians: dict[str, Any] = {mode: statistics.median(s for s, _ in runs) for mode, runs in results.items()}
    print(f"burst of {args.burst} uploads onto {args.initial} indexed images, {args.repeats} repeats")
    print(f"| {'mode':10} | {'index runs':>10} | {'median s':>9} | {'s per upload':>12} | {'ratio':>6} |")
    print(f"|{'-' * 12}|{'-' * 11}:|{'-' * 10}:|{'-' * 13}:|{'-' * 7}:|")
    for mode, runs in results.items():
        seconds = medians[mode]
        print(
            f"| {mode:10} | {runs[0][1]:10d} | {seconds:9.1f} | {seconds / args.burst:12.3f} "
            f"| {seconds / medians['batched']:6.1f} |"
        )


if __name__ == "__main__":
    main()
