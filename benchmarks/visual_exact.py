"""Search by picture's visual route at scale: exact cosine over images.visual beside exact text search.

    .venv/bin/python -m benchmarks.visual_exact --rows 100000 --queries 60

There is no ANN index on images.visual (docs/picture_search.md), so the route ranks every row of the
version. This writes ``--rows`` rows through the real writer (store.insert_new_rows: a 128-d embedding
and a 64-d visual vector each, random unit vectors: an exact scan's cost does not depend on them) into
an embedded PostgreSQL of its own, then times ``visual_search.search_visual`` and the text route's
exact search (``index_reader.search_index``, Strategy.EXACT) on the same rows, alternating query by
query, and prints their medians and p99.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from core.database import Connection, apply_schema, make_connector, start_embedded_postgres
from core.space import normalize_rows
from core.vector_index import Strategy
from function_app.index_reader import search_index
from function_app.planner import SearchPlan
from function_app.visual_search import search_visual
from indexing.store import RowBatch, insert_new_rows

VERSION = "bench-visual"


def fill(conn: Connection, rows: int, rng: np.random.Generator) -> None:
    """``rows`` rows of VERSION, unless it already holds them."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM images WHERE bundle_version = %s", (VERSION,))
        if cur.fetchone()[0] == rows:
            return
        cur.execute("DELETE FROM images WHERE bundle_version = %s", (VERSION,))
    for start in range(0, rows, 20_000):
        n = min(20_000, rows - start)
        ids = [f"img{i:07d}" for i in range(start, start + n)]
        batch = RowBatch(
            VERSION,
            ids,
            [f"{i}.png" for i in ids],
            ["a caption"] * n,
            normalize_rows(rng.normal(size=(n, 128)).astype(np.float32)),
            np.zeros(n, dtype=np.int32),
            ["bench"] * n,
            visual=normalize_rows(rng.normal(size=(n, 64)).astype(np.float32)),
        )
        insert_new_rows(conn, batch)
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    dsn = start_embedded_postgres(
        Path(tempfile.gettempdir()) / "caption-search-bench-visual-pg", database="bench"
    )
    conn = make_connector(dsn)()
    apply_schema(conn)
    rng = np.random.default_rng(0)
    fill(conn, args.rows, rng)
    times: dict[str, list[float]] = {"visual (64-d, exact)": [], "text (128-d, exact)": []}
    plan = SearchPlan(Strategy.EXACT)
    for q in range(args.queries + 3):  # the first 3 warm the cache
        visual = normalize_rows(rng.normal(size=(1, 64)).astype(np.float32))[0]
        text = normalize_rows(rng.normal(size=(1, 128)).astype(np.float32))[0]
        runs = [
            ("visual (64-d, exact)", lambda v=visual: search_visual(conn, VERSION, v, args.k)),
            ("text (128-d, exact)", lambda t=text: search_index(conn, VERSION, t, args.k, plan)),
        ]
        for name, run in runs if q % 2 else runs[::-1]:
            started = time.perf_counter()
            found = run()
            elapsed = (time.perf_counter() - started) * 1000
            assert len(found) == args.k
            if q >= 3:
                times[name].append(elapsed)
        conn.rollback()
    print(f"{args.rows} rows, {args.queries} queries, k {args.k}, alternated")
    print("| search | median ms | p99 ms |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {np.median(values):.1f} | {np.percentile(values, 99):.1f} |")


if __name__ == "__main__":
    main()
