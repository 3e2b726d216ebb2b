"""Search by picture's visual route at scale: its HNSW index and exact cosine over images.visual, beside
exact text search.

    .venv/bin/python -m benchmarks.visual_exact --rows 100000 --queries 60

This writes ``--rows`` rows through the real writer (store.insert_new_rows: a 128-d embedding and a
64-d visual vector each) into an embedded PostgreSQL of its own and builds the version's visual HNSW
index as publishing does (core.vector_index.create_visual_index). The visual vectors are clustered
(``--centres`` Gaussian clusters on the sphere) rather than uniform, since an ANN index's recall depends on
the data; an exact scan's cost does not. It then times ``visual_search.search_visual`` through the index
(``--ef-search``, the service's default), exactly, and the text route's exact search
(``index_reader.search_index``, Strategy.EXACT) on the same rows, rotating the order query by query, and
prints their medians and p99, and the index's recall@k against the exact visual search. Queries are
stored vectors plus noise, like a picture near indexed ones.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from core.database import Connection, apply_schema, make_connector, start_embedded_postgres
from core.space import normalize_rows
from core.vector_index import (
    VISUAL_METHOD,
    Strategy,
    create_visual_index,
    drop_vector_indexes,
    vector_index_name,
)
from function_app.index_reader import search_index
from function_app.planner import DEFAULT_EF_SEARCH, SearchPlan
from function_app.visual_search import search_visual, visual_ann_query
from indexing.store import RowBatch, insert_new_rows

VISUAL_DIM = 64


def clustered(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    """(n, v) unit vectors around random ones of the (C, v) ``centres``."""
    picked = centres[rng.integers(0, len(centres), n)]
    return normalize_rows(
        (picked + 0.6 * rng.normal(size=picked.shape) / np.sqrt(VISUAL_DIM)).astype(np.float32)
    )


def fill(conn: Connection, version: str, rows: int, rng: np.random.Generator, centres: np.ndarray) -> None:
    """``rows`` rows of ``version``, unless it already holds them."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM images WHERE bundle_version = %s", (version,))
        if cur.fetchone()[0] == rows:
            return
    drop_vector_indexes(conn, version)  # built for rows that are going
    with conn.cursor() as cur:
        cur.execute("DELETE FROM images")  # one version at a time: others' rows would slow the scans
    for start in range(0, rows, 20_000):
        n = min(20_000, rows - start)
        ids = [f"img{i:07d}" for i in range(start, start + n)]
        batch = RowBatch(
            version,
            ids,
            [f"{i}.png" for i in ids],
            ["a caption"] * n,
            normalize_rows(rng.normal(size=(n, 128)).astype(np.float32)),
            np.zeros(n, dtype=np.int32),
            ["bench"] * n,
            visual=clustered(rng, centres, n),
        )
        insert_new_rows(conn, batch)
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--ef-search", type=int, default=DEFAULT_EF_SEARCH)
    parser.add_argument("--centres", type=int, default=1000)
    args = parser.parse_args()
    dsn = start_embedded_postgres(
        Path(tempfile.gettempdir()) / "caption-search-bench-visual-pg", database="bench"
    )
    conn = make_connector(dsn)()
    apply_schema(conn)
    rng = np.random.default_rng(0)
    centres = normalize_rows(rng.normal(size=(args.centres, VISUAL_DIM)).astype(np.float32))
    version = f"bench-visual-{args.centres}-centres"  # a run with other data must not reuse these rows
    fill(conn, version, args.rows, rng, centres)
    built = create_visual_index(conn, version, VISUAL_DIM)  # a no-op when a previous run built it
    with conn.cursor() as cur:
        cur.execute("ANALYZE images")
        query = {"query": centres[0], "version": version, "k": args.k}
        cur.execute("EXPLAIN " + visual_ann_query(VISUAL_DIM).as_string(conn), query)
        uses_index = any(vector_index_name(version, VISUAL_METHOD) in row[0] for row in cur.fetchall())
    conn.commit()
    ann_name = f"visual (64-d, HNSW, ef_search {args.ef_search})"
    times: dict[str, list[float]] = {ann_name: [], "visual (64-d, exact)": [], "text (128-d, exact)": []}
    found: dict[str, list[str]] = {}
    recalls = []
    plan = SearchPlan(Strategy.EXACT)
    for q in range(args.queries + 3):  # the first 3 warm the cache
        visual = clustered(rng, centres, 1)[0]
        text = normalize_rows(rng.normal(size=(1, 128)).astype(np.float32))[0]
        runs = [
            (ann_name, lambda v=visual: search_visual(conn, version, v, args.k, args.ef_search)),
            ("visual (64-d, exact)", lambda v=visual: search_visual(conn, version, v, args.k)),
            ("text (128-d, exact)", lambda t=text: search_index(conn, version, t, args.k, plan)),
        ]
        shift = q % len(runs)
        for name, run in runs[shift:] + runs[:shift]:
            started = time.perf_counter()
            images = run()
            elapsed = (time.perf_counter() - started) * 1000
            conn.rollback()  # ends the transaction that set hnsw.ef_search
            assert len(images) == args.k
            found[name] = [image.image_id for image in images]
            if q >= 3:
                times[name].append(elapsed)
        if q >= 3:
            recalls.append(len(set(found[ann_name]) & set(found["visual (64-d, exact)"])) / args.k)
    print(
        f"{args.rows} rows, {args.queries} queries, k {args.k}, rotated; visual index built in {built:.1f} s"
    )
    print(f"the HNSW query's plan walks the visual index: {uses_index}")
    print(f"recall@{args.k} of the HNSW search against the exact visual search: {np.mean(recalls):.3f}")
    print("| search | median ms | p99 ms |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {np.median(values):.1f} | {np.percentile(values, 99):.1f} |")


if __name__ == "__main__":
    main()
