"""Search at scale: recall against latency for each retrieval strategy, side by side, in one run.

    .venv/bin/python -m benchmarks.scale --rows 1000000 --queries 200
    .venv/bin/python -m benchmarks.scale --rows 100000 --queries 200 --skip-http

Builds an index of caption-like embeddings through the real publishing code (benchmarks/caption_corpus.py
describes the vectors: real encoded captions plus synthesised ones) in an embedded PostgreSQL with
pgvector, then measures on the same rows and queries (held-out captions):
  - exact scan over all rows (the reference for recall);
  - cluster routing (the service's strategy), nprobe 1..64; nprobe=1 is the original design;
  - pgvector IVFFlat with the same number of lists, probes 1..64;
  - pgvector HNSW (m=16, ef_construction=64), ef_search 20..200;
  recall@10 and recall@100 against exact search, database latency median and p99 at concurrency 1 and 8,
  index build time and size;
  - the cost of PCA itself: recall@10 of exact search in the reduced space against the full encoder space;
  - the HTTP API under load at concurrency 1, 8 and 32 (bounded request counts, loopback only).
Writes docs/scale.md-ready tables to stdout, the raw numbers to .data/bench/scale-<rows>.json and the
recall/latency plot to docs/scale-<rows>.png.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.caption_corpus import CACHE, encode_cached, sentences, subject_of, synthesise
from benchmarks.http_load import http_load
from benchmarks.scale_pca import pca_cost
from benchmarks.scale_report import plot, print_http, print_pca, print_tables
from benchmarks.search_latency import ms

DOCS = Path(__file__).resolve().parents[1] / "docs"
Measure = Callable[[Any, np.ndarray, int], list[str]]


def vectors(rows: int, real: int, encoder_dir: Path) -> tuple[list[str], np.ndarray]:
    texts = sentences(real, seed=1)
    full = synthesise(encode_cached(texts, encoder_dir, f"real-{real}"), subject_of(texts), rows, seed=2)
    return texts, full


def load(rows: int, real: int, dsn: str, share: Path, encoder_dir: Path) -> tuple[str, np.ndarray, float]:
    """The index through build_index (cached between runs); returns (version, full embeddings, build s)."""
    from core.bundle import BundleError, load_bundle
    from core.database import make_connector
    from function_app.index_reader import count_images
    from indexing.versions import CaptionedImage, build_index

    texts, full = vectors(rows, real, encoder_dir)
    conn = make_connector(dsn, register_vector=False)()
    try:
        version = load_bundle(share, verify_checksums=False).version
        if count_images(conn, version) == rows:
            conn.close()
            return version, full, float("nan")
    except BundleError:
        pass
    images = [
        CaptionedImage(f"{i}", f"{i}.jpg", texts[i] if i < real else f"synthetic {i}") for i in range(rows)
    ]
    started = time.perf_counter()
    version = build_index(images, conn=conn, share=share, encoder_dir=encoder_dir, embeddings=full)
    seconds = time.perf_counter() - started
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE images")
    conn.close()
    return version, full, seconds


def run_queries(
    connect: Callable[[], Any], fn: Measure, queries: np.ndarray, k: int, concurrency: int
) -> tuple[list[list[str]], list[float]]:
    """Each worker thread has its own connection; returns (ids per query, seconds per query)."""
    results: list[list[str]] = [[] for _ in range(len(queries))]
    times: list[float] = [0.0] * len(queries)
    local = threading.local()

    def one(index: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = connect()
        started = time.perf_counter()
        results[index] = fn(local.conn, queries[index], k)
        times[index] = time.perf_counter() - started

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(len(queries))))
    return results, times


def latency(connect: Callable[[], Any], fn: Measure, queries: np.ndarray) -> dict[str, float]:
    """Database median and p99 ms of top-10 queries at concurrency 1 and 8, each thread on its own connection."""
    _, single = run_queries(connect, fn, queries, 10, 1)
    _, eight = run_queries(connect, fn, queries, 10, 8)
    return {
        "c1_median_ms": ms(single)[0],
        "c1_p99_ms": ms(single)[1],
        "c8_median_ms": ms(eight)[0],
        "c8_p99_ms": ms(eight)[1],
    }


def describe_latency(row: dict[str, Any]) -> str:
    return (
        f"c1 {row['c1_median_ms']:.1f}/{row['c1_p99_ms']:.1f} ms "
        f"c8 {row['c8_median_ms']:.1f}/{row['c8_p99_ms']:.1f} ms"
    )


def recall(found: list[list[str]], truth: list[list[str]], k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--real", type=int, default=20_000, help="rows that are really encoded captions")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=50, help="queries timed on the slow exact scan")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--only-http", action="store_true", help="only the HTTP load test on the built index")
    parser.add_argument("--only-pca", action="store_true", help="only the cost of PCA (no database)")
    args = parser.parse_args()

    from core.bundle import load_bundle
    from core.database import make_connector, start_embedded_postgres
    from core.space import nearest_clusters, project
    from core.text_encoder import OnnxSentenceEncoder
    from core.vector_index import Strategy, create_vector_index, drop_vector_indexes, vector_index_name
    from function_app.index_reader import SearchPlan, search_index
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = ensure_encoder_export(CACHE.parent / "cache")
    query_texts = sentences(args.real + args.queries, seed=1)[args.real :]
    if args.only_pca:
        full = vectors(args.rows, args.real, encoder_dir)[1]
        print_pca(pca_cost(full, OnnxSentenceEncoder(encoder_dir).encode(query_texts), args.rows))
        return
    dsn = start_embedded_postgres(Path(tempfile.gettempdir()) / "caption-search-bench-pg", database="scale")
    share = CACHE / f"scale-share-{args.rows}"
    report: dict[str, Any] = {"rows": args.rows, "queries": args.queries}
    version, full, build_seconds = load(args.rows, args.real, dsn, share, encoder_dir)
    bundle = load_bundle(share, verify_checksums=False)
    dim, lists = bundle.reduced_dim, bundle.cluster_count
    report.update(version=version, pca_dim=dim, clusters=lists, build_seconds=build_seconds)
    print(f"index: {args.rows} rows, PCA {dim}-d, {lists} clusters (build {build_seconds:.0f} s)")

    if args.only_http:
        admin = make_connector(dsn)()
        admin.autocommit = True
        create_vector_index(admin, version, dim, "ivfflat", lists=lists)
        admin.close()
        report["http"] = http_load(dsn, share, query_texts)
        print_http(report["http"])
        return
    query_full = OnnxSentenceEncoder(encoder_dir).encode(query_texts)
    query_reduced = project(query_full, bundle.pca_mean, bundle.pca_components)

    reduced_all = project(full, bundle.pca_mean, bundle.pca_components)
    # The reference: exact top 100 in the reduced space, over all rows.
    truth = [[str(i) for i in np.argsort(-(reduced_all @ q))[:100]] for q in query_reduced]

    def connect() -> Any:
        return make_connector(dsn)()

    def plan(strategy: str, probes: int = 8, ef_search: int = 100) -> Measure:
        """The service's own query (function_app/index_reader.py) for one strategy and setting."""

        def search(conn: Any, q: np.ndarray, k: int) -> list[str]:
            routed = (
                nearest_clusters(q, bundle.centroids, probes)[0].tolist() if strategy == "clusters" else []
            )
            chosen = SearchPlan(Strategy(strategy), tuple(routed), probes, ef_search)
            return [row.image_id for row in search_index(conn, version, q, k, chosen)]

        return search

    rows_out: list[dict[str, Any]] = []

    def measure(
        strategy: str,
        setting: str,
        fn: Measure,
        queries: np.ndarray | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        qs = query_reduced if queries is None else queries
        found100, _ = run_queries(connect, fn, qs, 100, 1)
        gold = truth[: len(qs)]
        row = {
            "strategy": strategy,
            "setting": setting,
            "recall@10": recall(found100, gold, 10),
            "recall@100": recall(found100, gold, 100),
            **latency(connect, fn, qs),
            **(extra or {}),
        }
        rows_out.append(row)
        print(
            f"  {strategy:16} {setting:14} r@10 {row['recall@10']:.3f} r@100 {row['recall@100']:.3f} "
            + describe_latency(row),
            flush=True,
        )

    admin = connect()
    admin.autocommit = True
    drop_vector_indexes(admin, version)
    measure("exact", "all rows", plan("exact"), query_reduced[: args.exact_queries])
    for nprobe in (1, 2, 4, 8, 16, 32, 64):
        measure("cluster routing", f"nprobe={nprobe}", plan("clusters", probes=nprobe))

    def build_index(method: str) -> tuple[float, int]:
        """The production index (core/vector_index.py), so the HTTP test's service finds it."""
        with admin.cursor() as cur:
            cur.execute("SET max_parallel_maintenance_workers = 1")
        seconds = create_vector_index(admin, version, dim, method, lists=lists)
        with admin.cursor() as cur:
            cur.execute("SELECT pg_relation_size(%s)", (vector_index_name(version, method),))
            size = int(cur.fetchone()[0])
        print(f"  built the {method} index in {seconds:.0f} s, {size / 2**20:.0f} MiB", flush=True)
        return seconds, size

    seconds, size = build_index("hnsw")
    for ef in (20, 40, 100, 200):
        measure(
            "HNSW",
            f"ef_search={ef}",
            plan("hnsw", ef_search=ef),
            extra={"build_s": seconds, "index_mib": size / 2**20},
        )
    drop_vector_indexes(admin, version)
    # IVFFlat last: it is the service's default, and the HTTP test below runs on it.
    seconds, size = build_index("ivfflat")
    for probes in (1, 2, 4, 8, 16, 32, 64):
        measure(
            "IVFFlat",
            f"probes={probes}",
            plan("ivfflat", probes=probes),
            extra={"build_s": seconds, "index_mib": size / 2**20},
        )
    with admin.cursor() as cur:
        cur.execute("SELECT pg_total_relation_size('images'), pg_relation_size('images')")
        total, heap = cur.fetchone()
    report.update(table_mib=heap / 2**20, table_with_indexes_mib=total / 2**20)
    admin.close()
    report["strategies"] = rows_out

    report["pca"] = pca_cost(full, query_full, args.rows)
    if not args.skip_http:
        report["http"] = http_load(dsn, share, query_texts)
    out = CACHE / f"scale-{args.rows}.json"
    out.write_text(json.dumps(report, indent=2))
    plot(report, DOCS / f"scale-{args.rows}.png")
    print_tables(report)


if __name__ == "__main__":
    main()
