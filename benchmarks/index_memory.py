"""Memory stays flat as the corpus grows: index N small generated images and report RSS along the way.

    .venv/bin/python -m benchmarks.index_memory [--images 100000]

Uses the tiny test captioner (untrained, 32 px) so that the run measures the pipeline, not the model:
listing, spool, DataLoader, encoder, COPY, fit and store. Prints the main process's RSS after every
10% of the images, its peak, and the time per stage.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    import psycopg2
    import torch

    from core.database import (
        apply_schema,
        make_connector,
        start_embedded_postgres,
        stop_embedded_postgres,
    )
    from core.images import LocalFolderStore
    from indexing import loaders
    from indexing.encoder_export import ensure_encoder_export
    from indexing.refit import FitOptions
    from indexing.runner import IndexOptions, Models, pipeline, run_index
    from indexing.session import Database
    from indexing.write import PostgresWriter
    from training.synthetic import make_shapes, write_tiny_checkpoint

    torch.set_num_threads(1)
    scratch = Path(tempfile.mkdtemp(prefix="index-memory-"))
    try:
        started = time.perf_counter()
        for shard in range(0, args.images, 1000):  # 1,000 files a folder, as a real container would be paged
            make_shapes(
                scratch / "images" / f"{shard // 1000:04d}",
                min(1000, args.images - shard),
                seed=shard,
                start=shard,
            )
        print(
            f"generated {args.images} images in {time.perf_counter() - started:.0f} s; RSS {rss_mib():.0f} MiB"
        )
        checkpoint = write_tiny_checkpoint(scratch / "tiny.pt")
        encoder_dir = ensure_encoder_export(Path(".data") / "cache")
        dsn = os.environ.get("DATABASE_URL") or start_embedded_postgres(scratch / "pg")
        conn = psycopg2.connect(dsn)
        apply_schema(conn)
        conn.close()
        run_models = Models(loaders.captioner(checkpoint, "cpu"), "tiny", loaders.onnx_encoder)
        options = IndexOptions(
            batch_size=args.batch_size,
            workers=args.workers,
            max_length=8,
            show_progress=False,
            fit=FitOptions(show_progress=False),
        )
        marks: list[tuple[int, float]] = []
        step = max(1, args.images // 10 // args.batch_size)

        def sample(batch: int) -> None:
            if batch % step == 0:
                marks.append((batch * args.batch_size, rss_mib()))

        started = time.perf_counter()
        run = pipeline(
            lambda: LocalFolderStore(scratch / "images"),
            PostgresWriter(Database(make_connector(dsn))),
            scratch / "share",
            encoder_dir,
            run_models,
            options,
            after_batch=sample,
        )
        summary = run_index(run, options)
        total = time.perf_counter() - started
    finally:
        if not os.environ.get("DATABASE_URL"):
            stop_embedded_postgres(scratch / "pg")
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"indexed {summary.indexed} images in {total:.0f} s ({summary.indexed / total:.0f} images/s)")
    print(f"{'images done':>12} {'main RSS MiB':>13}")
    for done, mib in marks:
        print(f"{done:12,} {mib:13.0f}")
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: main {peak_self:.0f} MiB (fit included)")
    print("seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(summary.seconds.items())))


if __name__ == "__main__":
    main()
