"""Rows per second into PostgreSQL for 128-d vectors: binary COPY (the indexer's path) vs the old text COPY.

    .venv/bin/python -m benchmarks.copy_rows [--rows 200000] [--batch 50000]

Uses DATABASE_URL, or starts a throwaway embedded PostgreSQL (pgserver). Each method writes the same rows
as a new bundle version in batches (one transaction each); the table keeps its primary key and cluster
index, as in production. Prints median and p99 batch rates and the ratio to the text-COPY baseline.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg2

from core.database import Connection, apply_schema, start_embedded_postgres, stop_embedded_postgres
from indexing.store import RowBatch, insert_new_rows, merge_rows


def _text_copy(conn: Connection, batch: RowBatch) -> int:
    """The store's former path: a Python text formatter, COPY into staging, INSERT ... ON CONFLICT."""

    def esc(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    buffer = io.StringIO()
    for i in range(len(batch)):
        vector = "[" + ",".join(f"{x:.7g}" for x in batch.embeddings[i].tolist()) + "]"
        fields = (
            batch.bundle_version,
            batch.image_ids[i],
            esc(batch.names[i]),
            esc(batch.captions[i]),
            esc(batch.alternatives[i] if batch.alternatives is not None else ""),
            vector,
            str(int(batch.cluster_ids[i])),
            batch.captioners[i],
        )
        buffer.write("\t".join(fields) + "\n")
    buffer.seek(0)
    columns = "bundle_version, image_id, name, caption, alternatives, embedding, cluster_id, captioner"
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS images_staging (LIKE images INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        cur.copy_expert(f"COPY images_staging ({columns}) FROM STDIN", buffer)
        cur.execute(
            f"INSERT INTO images ({columns}) SELECT {columns} FROM images_staging ON CONFLICT DO NOTHING"
        )
    return len(batch)


# What the indexer stores beside each caption (INDEX_CAPTIONS_PER_IMAGE=5); search ranks both by full text.
ALTERNATIVES = "\n".join(
    [
        "a man riding a horse on the beach",
        "a person riding a brown horse near the water",
        "a horse walking on a sandy beach",
        "a man on a horse by the sea",
    ]
)


def _batches(rows: int, size: int, dim: int, version: str) -> list[RowBatch]:
    rng = np.random.default_rng(0)
    out = []
    for start in range(0, rows, size):
        n = min(size, rows - start)
        vectors = rng.normal(size=(n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"{i:032x}" for i in range(start, start + n)]
        out.append(
            RowBatch(
                version,
                ids,
                [f"photos/{i}.jpg" for i in ids],
                ["a man riding a horse on a sandy beach next to the sea"] * n,
                vectors,
                rng.integers(0, 1000, n).astype(np.int32),
                ["captioner.pt@0123456789ab"] * n,
                [ALTERNATIVES] * n,
            )
        )
    return out


def measure(
    conn: Connection, name: str, write: Callable[[Connection, RowBatch], int], rows: int, size: int, dim: int
) -> list[float]:
    rates = []
    for batch in _batches(rows, size, dim, name):
        started = time.perf_counter()
        write(conn, batch)
        conn.commit()
        rates.append(len(batch) / (time.perf_counter() - started))
    with conn.cursor() as cur:
        cur.execute("DELETE FROM images WHERE bundle_version = %s", (name,))
    conn.commit()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    folder = None
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        folder = Path(tempfile.mkdtemp(prefix="copy-bench-pg-"))
        dsn = start_embedded_postgres(folder / "data")
    conn = psycopg2.connect(dsn)
    apply_schema(conn)
    try:
        results = {
            "text COPY + merge (before)": measure(conn, "text", _text_copy, args.rows, args.batch, args.dim),
            "binary COPY + merge": measure(conn, "merge", merge_rows, args.rows, args.batch, args.dim),
            "binary COPY, new version": measure(
                conn, "new", insert_new_rows, args.rows, args.batch, args.dim
            ),
        }
    finally:
        conn.close()
        if folder is not None:
            stop_embedded_postgres(folder / "data")
            shutil.rmtree(folder, ignore_errors=True)
    baseline = float(np.median(results["text COPY + merge (before)"]))
    print(f"{args.rows} rows of {args.dim}-d vectors in batches of {args.batch}")
    print(f"{'method':30} {'median rows/s':>14} {'p99 (slowest) rows/s':>21} {'x baseline':>11}")
    for name, rates in results.items():
        median, slow = float(np.median(rates)), float(np.percentile(rates, 1))
        print(f"{name:30} {median:14,.0f} {slow:21,.0f} {median / baseline:11.1f}")


if __name__ == "__main__":
    main()
