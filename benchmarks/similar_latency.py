"""More like this (GET /api/similar) beside text search (GET /api/search): warm HTTP latency, one run.

    .venv/bin/python -m benchmarks.similar_latency --rows 100000 --queries 300

Reuses search_latency.py's index (cached in .data/bench/share-<rows>, built through the real
publishing code on first use) and its server. Then:
  1. recall@10 of the similar-images search against exact search over all rows, per strategy, with
     its database time (the source's stored vector is the query, as the service does it);
  2. the warm HTTP round trip of both kinds of query against one server with the default settings:
     each round sends a text query (a held-out caption) and a similar query (a random indexed image),
     the order alternating per round, so load drift hits both alike. Median and p99 of each, their
     ratio, and the parts the server reports.
Prints markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.alternate import ms, print_parts, take_turns
from benchmarks.caption_corpus import CACHE, sentences
from benchmarks.search_latency import ensure_index, ensure_ivfflat, serving

STRATEGIES = ("ivfflat nprobe=8", "ivfflat nprobe=16", "clusters nprobe=8")


def recall_table(dsn: str, share: Path, ids: list[str], k: int) -> list[tuple[str, float, float, float]]:
    """recall@k of each strategy against exact search for the neighbours of ``ids``, and db time."""
    from core.bundle import load_bundle
    from core.database import make_connector
    from core.space import nearest_clusters
    from core.vector_index import Strategy
    from function_app.index_reader import SearchPlan, search_index, stored_image
    from function_app.similar import nearest_others

    bundle = load_bundle(share, verify_checksums=False)
    conn = make_connector(dsn)()
    vectors = {}
    for image_id in ids:
        found = stored_image(conn, bundle.version, image_id)
        assert found is not None, image_id
        vectors[image_id] = found[1]

    def run(plan_for: Callable[[np.ndarray], SearchPlan]) -> tuple[list[set[str]], list[float]]:
        found, times = [], []
        for image_id, vector in vectors.items():
            started = time.perf_counter()
            rows = search_index(conn, bundle.version, vector, k + 1, plan_for(vector))
            times.append(time.perf_counter() - started)
            found.append({row.image_id for row in nearest_others(rows, image_id, k)})
        return found, times

    def plan(name: str) -> Callable[[np.ndarray], SearchPlan]:
        strategy, probes = name.split(" nprobe=")
        if strategy == "ivfflat":
            return lambda _: SearchPlan(Strategy.IVFFLAT, (), int(probes))
        return lambda vector: SearchPlan(
            Strategy.CLUSTERS, tuple(nearest_clusters(vector, bundle.centroids, int(probes))[0].tolist())
        )

    exact, exact_times = run(lambda _: SearchPlan(Strategy.EXACT))
    table = [("exact (all rows)", 1.0, *ms(exact_times))]
    for name in STRATEGIES:
        neighbours, times = run(plan(name))
        recall = float(np.mean([len(f & t) / len(t) for f, t in zip(neighbours, exact, strict=True)]))
        table.append((name, recall, *ms(times)))
    conn.close()
    return table


def side_by_side(
    env: dict[str, str], texts: list[str], ids: list[str], k: int
) -> dict[str, dict[str, list[float]]]:
    """Round trip and server timing parts (seconds) of alternating text and similar queries."""
    import httpx

    with serving(env) as base, httpx.Client(base_url=base, timeout=10) as client:
        return take_turns(
            {
                "text": lambda i: client.get("/api/search", params={"q": texts[i], "k": k}),
                "similar": lambda i: client.get("/api/similar", params={"id": ids[i], "k": k}),
            },
            len(texts),
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the index (default 100000)")
    parser.add_argument("--real", type=int, default=20_000, help="rows that are really encoded captions")
    parser.add_argument("--queries", type=int, default=300, help="queries of each kind")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    from core.database import start_embedded_postgres
    from core.vector_index import DEFAULT_STRATEGY
    from function_app.planner import DEFAULT_NPROBE
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = ensure_encoder_export(CACHE.parent / "cache")
    dsn = start_embedded_postgres(Path(tempfile.gettempdir()) / "caption-search-bench-pg", database="bench")
    share = CACHE / f"share-{args.rows}"
    print(f"index: {args.rows} rows ({args.real} encoded captions, the rest synthesised)")
    version = ensure_index(args.rows, args.real, dsn, share, encoder_dir)
    ensure_ivfflat(dsn, share, version)
    texts = sentences(args.real + args.queries, seed=1)[args.real :]  # captions not in the index
    ids = [f"r{i}" for i in random.Random(3).sample(range(args.rows), args.queries)]

    print(f"\n### Similar images: recall@{args.k} against exact search, {len(ids)} sources, database time\n")
    print("| strategy | recall@10 | db median ms | db p99 ms |\n|---|---|---|---|")
    for name, recall, median, p99 in recall_table(dsn, share, ids, args.k):
        print(f"| {name} | {recall:.3f} | {median:.1f} | {p99:.1f} |")

    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": str(share),
        "IMAGES_DIR": str(CACHE),  # the benchmark rows name no real files
        "SEARCH_NPROBE": str(DEFAULT_NPROBE),
    }
    print(
        f"\n### Warm HTTP round trip, text and similar queries side by side, one server "
        f"({DEFAULT_STRATEGY}, nprobe={DEFAULT_NPROBE}), k={args.k}, {len(texts)} rounds\n"
    )
    parts = side_by_side(env, texts, ids, args.k)
    print_parts(parts)
    ratio = ms(parts["similar"]["round trip"])[0] / ms(parts["text"]["round trip"])[0]
    print(f"\nsimilar / text, round-trip median: {ratio:.2f}")


if __name__ == "__main__":
    main()
