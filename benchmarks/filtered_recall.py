"""Filtered search at scale: recall@10 against exact filtered search at 1 %, 10 % and 50 % selectivity.

    .venv/bin/python -m benchmarks.filtered_recall --rows 100000 --queries 100

The index is benchmarks/scale.py's (caption-like embeddings through the real publishing code, in an
embedded PostgreSQL of its own database). Each row is given a ``taken`` time from a random permutation,
so ``taken_before`` keeps a chosen fraction of the rows, independent of where they lie in the space.
The reference is numpy's exact top 10 among the kept rows in the reduced space. Measured, each with the
service's own query (function_app/filtered_search.py) and the service's default knobs:
  - HNSW (m=16, ef_construction=64, ef_search=100) and IVFFlat (lists = the K-means clusters, 8 probes),
    each with pgvector's iterative scans off, on (relaxed_order), and on with the exact re-check that the
    service runs when fewer than k come back; IVFFlat also at the probes the service uses for a filtered
    query (8 x planner.FILTERED_PROBE_FACTOR);
  - cluster routing (nprobe 8, and widened as the service does) with the exact re-check, and exact
    filtered search;
recall@10, how often fewer than 10 came back, and the median and p90 database milliseconds at
concurrency 1. Prints a docs/filters.md-ready table; raw numbers go to .data/bench/filtered-<rows>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.caption_corpus import CACHE, sentences
from benchmarks.scale import load

START = datetime(2000, 1, 1, tzinfo=UTC)
SELECTIVITIES = (0.01, 0.10, 0.50)
K = 10


def assign_dates(conn: Any, version: str, rows: int, seed: int = 3) -> np.ndarray:
    """Give row i the time START + order[i] hours (a random permutation); returns order."""
    from indexing.copy_binary import Column, encode_copy

    order = np.random.default_rng(seed).permutation(rows)
    payload = encode_copy(
        [
            Column("text", [str(i) for i in range(rows)]),
            Column("timestamptz", [START + timedelta(hours=int(h)) for h in order]),
        ]
    )
    with conn.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE dates (image_id text PRIMARY KEY, taken timestamptz)")
        cur.copy_expert("COPY dates FROM STDIN WITH (FORMAT binary)", io.BytesIO(payload))
        cur.execute(
            "UPDATE images AS i SET taken = d.taken, taken_from = 'exif' FROM dates AS d "
            "WHERE i.bundle_version = %s AND i.image_id = d.image_id AND i.taken IS DISTINCT FROM d.taken",
            (version,),
        )
        cur.execute("DROP TABLE dates")
    return order


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=20_000, help="rows that are really encoded captions")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()

    from core.bundle import load_bundle
    from core.database import make_connector, start_embedded_postgres
    from core.space import nearest_clusters, project
    from core.text_encoder import OnnxSentenceEncoder
    from core.vector_index import Strategy, create_vector_index, drop_vector_indexes
    from function_app.filtered_search import search_filtered
    from function_app.filters import SearchFilters
    from function_app.planner import FILTERED_PROBE_FACTOR, SearchPlan
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = ensure_encoder_export(CACHE.parent / "cache")
    dsn = start_embedded_postgres(
        Path(tempfile.gettempdir()) / "caption-search-bench-pg", database="filtered"
    )
    share = CACHE / f"filtered-share-{args.rows}"
    version, full, build_seconds = load(args.rows, args.real, dsn, share, encoder_dir)
    bundle = load_bundle(share, verify_checksums=False)
    dim, lists = bundle.reduced_dim, bundle.cluster_count
    print(f"index: {args.rows} rows, PCA {dim}-d, {lists} clusters (build {build_seconds:.0f} s)", flush=True)
    reduced = project(full, bundle.pca_mean, bundle.pca_components)  # (N, d)
    query_texts = sentences(args.real + args.queries, seed=1)[args.real :]
    queries = project(
        OnnxSentenceEncoder(encoder_dir).encode(query_texts), bundle.pca_mean, bundle.pca_components
    )

    admin = make_connector(dsn)()
    admin.autocommit = True
    drop_vector_indexes(admin, version)
    order = assign_dates(admin, version, args.rows)
    with admin.cursor() as cur:
        cur.execute("VACUUM ANALYZE images")
    conn = make_connector(dsn)()

    cases = []
    for share_kept in SELECTIVITIES:
        cut = round(share_kept * args.rows)
        keep = np.flatnonzero(order < cut)
        truth = [[str(keep[j]) for j in np.argsort(-(reduced[keep] @ q))[:K]] for q in queries]
        cases.append((share_kept, SearchFilters(taken_before=START + timedelta(hours=cut)), truth))

    results: list[dict[str, Any]] = []

    def measure(name: str, strategy: Strategy, probes: int = 8, **options: Any) -> None:
        for share_kept, filters, truth in cases:
            recalls, short, seconds = [], 0, []
            for q, gold in zip(queries, truth, strict=True):
                clusters = strategy is Strategy.CLUSTERS
                routed = nearest_clusters(q, bundle.centroids, probes)[0] if clusters else []
                plan = SearchPlan(strategy, tuple(int(c) for c in routed), probes=probes, ef_search=100)
                started = time.perf_counter()
                rows = search_filtered(conn, version, q, K, plan, filters, **options)
                seconds.append(time.perf_counter() - started)
                conn.rollback()
                found = [str(row[0]) for row in rows]
                short += len(found) < K
                recalls.append(len(set(found) & set(gold)) / K)
            row = {
                "strategy": name,
                "kept": share_kept,
                "recall@10": float(np.mean(recalls)),
                "short": short,
                "median_ms": float(np.median(seconds) * 1000),
                "p90_ms": float(np.percentile(seconds, 90) * 1000),
            }
            results.append(row)
            print(
                f"  {name:38} {share_kept:>4.0%} r@10 {row['recall@10']:.3f} fewer than 10: {short:3d} "
                f"median {row['median_ms']:.1f} ms p90 {row['p90_ms']:.1f} ms",
                flush=True,
            )

    measure("exact filtered", Strategy.EXACT)
    widened = 8 * FILTERED_PROBE_FACTOR  # what the service probes for a filtered query (planner.py)
    measure("clusters nprobe 8 + exact re-check", Strategy.CLUSTERS)
    measure(f"clusters nprobe {widened} + exact re-check (service)", Strategy.CLUSTERS, widened)
    create_vector_index(admin, version, dim, "hnsw")
    with admin.cursor() as cur:
        cur.execute("ANALYZE images")
    measure("HNSW ef 100, iterative off", Strategy.HNSW, iterative=False, fallback=False)
    measure("HNSW ef 100, iterative", Strategy.HNSW, fallback=False)
    measure("HNSW ef 100, iterative + exact re-check (service)", Strategy.HNSW)
    drop_vector_indexes(admin, version)
    create_vector_index(admin, version, dim, "ivfflat", lists=lists)
    with admin.cursor() as cur:
        cur.execute("ANALYZE images")
    measure("IVFFlat probes 8, iterative off", Strategy.IVFFLAT, iterative=False, fallback=False)
    measure("IVFFlat probes 8, iterative", Strategy.IVFFLAT, fallback=False)
    measure("IVFFlat probes 8, iterative + exact re-check", Strategy.IVFFLAT)
    measure(f"IVFFlat probes {widened}, iterative + exact re-check (service)", Strategy.IVFFLAT, widened)
    conn.close()
    admin.close()

    out = CACHE / f"filtered-{args.rows}.json"
    out.write_text(json.dumps({"rows": args.rows, "queries": args.queries, "results": results}, indent=2))
    print(f"\n{args.rows} rows, {args.queries} queries, recall@10 against exact filtered search; median ms")
    print("| strategy | " + " | ".join(f"{s:.0%} kept" for s in SELECTIVITIES) + " |")
    print("|---|" + "---|" * len(SELECTIVITIES))
    names = list(dict.fromkeys(r["strategy"] for r in results))
    for name in names:
        cells = [
            f"{r['recall@10']:.3f} ({r['median_ms']:.1f} ms{', ' + str(r['short']) + ' short' if r['short'] else ''})"
            for r in results
            if r["strategy"] == name
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
