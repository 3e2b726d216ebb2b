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
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.caption_corpus import CACHE, encode_cached, sentences, subject_of, synthesise

DOCS = Path(__file__).resolve().parents[1] / "docs"
Measure = Callable[[Any, np.ndarray, int], list[str]]


def percentiles(seconds: list[float]) -> tuple[float, float]:
    values = np.asarray(seconds) * 1000
    return float(np.median(values)), float(np.percentile(values, 99))


def vectors(rows: int, real: int, encoder_dir: Path) -> tuple[list[str], np.ndarray]:
    texts = sentences(real, seed=1)
    full = synthesise(encode_cached(texts, encoder_dir, f"real-{real}"), subject_of(texts), rows, seed=2)
    return texts, full


def load(rows: int, real: int, dsn: str, share: Path, encoder_dir: Path) -> tuple[str, np.ndarray, float]:
    """The index through build_index (cached between runs); returns (version, full embeddings, build s)."""
    from core.bundle import BundleError, load_bundle
    from core.database import make_connector
    from function_app.index_reader import count_images
    from indexing.publish import CaptionedImage, build_index

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
    from core.vector_index import create_vector_index, drop_vector_indexes, vector_index_name
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
            chosen = SearchPlan(strategy, routed, probes, ef_search)
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
        _, single = run_queries(connect, fn, qs, 10, 1)
        _, eight = run_queries(connect, fn, qs, 10, 8)
        row = {
            "strategy": strategy,
            "setting": setting,
            "recall@10": recall(found100, gold, 10),
            "recall@100": recall(found100, gold, 100),
            "c1_median_ms": percentiles(single)[0],
            "c1_p99_ms": percentiles(single)[1],
            "c8_median_ms": percentiles(eight)[0],
            "c8_p99_ms": percentiles(eight)[1],
            **(extra or {}),
        }
        rows_out.append(row)
        print(
            f"  {strategy:16} {setting:14} r@10 {row['recall@10']:.3f} r@100 {row['recall@100']:.3f} "
            f"c1 {row['c1_median_ms']:.1f}/{row['c1_p99_ms']:.1f} ms c8 {row['c8_median_ms']:.1f}/{row['c8_p99_ms']:.1f} ms",
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


def pca_cost(full: np.ndarray, queries: np.ndarray, rows: int) -> list[dict[str, float]]:
    """recall@10 of exact search in a PCA space of each size against exact search in the full space:
    the service's uncentered PCA, and beside it a centered PCA (the service's before session 3)."""
    from sklearn.decomposition import PCA

    from core.space import project
    from indexing.fit import fit_space

    subset = full[: min(rows, 200_000)]
    truth = np.argsort(-(queries @ subset.T), axis=1)[:, :10]

    def recall_in(mean: np.ndarray, components: np.ndarray) -> float:
        found = np.argsort(
            -(project(queries, mean, components) @ project(subset, mean, components).T), axis=1
        )
        return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found[:, :10], truth, strict=True)]))

    out = []
    for dim in (32, 64, 96, 128, 192, 256):
        space = fit_space(subset[:50_000], pca_dim=dim, clusters=1)
        centered = PCA(n_components=dim, svd_solver="randomized", random_state=0).fit(subset[:50_000])
        out.append(
            {
                "pca_dim": dim,
                "recall@10": recall_in(space.pca_mean, space.pca_components),
                "explained_variance": space.explained_variance,
                "centered_recall@10": recall_in(centered.mean_, centered.components_),
            }
        )
    return out


def http_load(dsn: str, share: Path, queries: list[str]) -> list[dict[str, float]]:
    from benchmarks.search_latency import serving

    env = {**os.environ, "DATABASE_URL": dsn, "MODEL_SHARE_PATH": str(share), "IMAGES_DIR": str(CACHE)}
    with serving(env) as base:
        return [
            load_level(base, queries, concurrency, min(len(queries), 100) * max(1, concurrency // 4))
            for concurrency in (1, 8, 32)
        ]


def load_level(base: str, queries: list[str], concurrency: int, total: int) -> dict[str, float]:
    """``total`` search requests from ``concurrency`` threads (after a short warm-up)."""
    import httpx

    times: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency)
    with httpx.Client(base_url=base, timeout=30, limits=limits) as client:

        def one(i: int) -> None:
            nonlocal errors
            started = time.perf_counter()
            response = client.get("/api/search", params={"q": queries[i % len(queries)], "k": 10})
            times.append(time.perf_counter() - started)
            errors += response.status_code != 200

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(min(20, total))))  # warm-up
            times.clear()
            started = time.perf_counter()
            list(pool.map(one, range(total)))
            elapsed = time.perf_counter() - started
    median, p99 = percentiles(times)
    print(
        f"  HTTP c={concurrency}: {total / elapsed:.0f} req/s, median {median:.1f} ms, p99 {p99:.1f} ms, "
        f"{errors} errors",
        flush=True,
    )
    return {
        "concurrency": concurrency,
        "requests": total,
        "rps": total / elapsed,
        "median_ms": median,
        "p99_ms": p99,
        "errors": errors,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy, marker in (("cluster routing", "o"), ("IVFFlat", "s"), ("HNSW", "^"), ("exact", "x")):
        rows = [r for r in report["strategies"] if r["strategy"] == strategy]
        ax.plot(
            [r["c1_median_ms"] for r in rows], [r["recall@10"] for r in rows], marker=marker, label=strategy
        )
        for r in rows:
            ax.annotate(
                r["setting"].split("=")[-1],
                (r["c1_median_ms"], r["recall@10"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(3, -8),
            )
    ax.set_xscale("log")
    ax.set_xlabel("database latency, median ms (concurrency 1, log scale)")
    ax.set_ylabel("recall@10 against exact search")
    ax.set_title(f"{report['rows']:,} rows, PCA {report['pca_dim']}-d, {report['clusters']} lists")
    ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def print_tables(report: dict[str, Any]) -> None:
    print(f"\n### {report['rows']:,} rows: recall against exact search and database latency\n")
    print(
        "| strategy | setting | recall@10 | recall@100 | c1 median ms | c1 p99 ms | c8 median ms | c8 p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in report["strategies"]:
        print(
            f"| {r['strategy']} | {r['setting']} | {r['recall@10']:.3f} | {r['recall@100']:.3f} | "
            f"{r['c1_median_ms']:.1f} | {r['c1_p99_ms']:.1f} | {r['c8_median_ms']:.1f} | {r['c8_p99_ms']:.1f} |"
        )
    print_pca(report["pca"])
    if "http" in report:
        print_http(report["http"])


def print_pca(rows: list[dict[str, float]]) -> None:
    print("\n### Cost of PCA (exact search in the reduced space against the full 384-d space)\n")
    print("| PCA dims | recall@10 (uncentered, the service's) | norm kept | recall@10 (centered) |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['pca_dim']} | {r['recall@10']:.3f} | {r['explained_variance']:.3f} "
            f"| {r.get('centered_recall@10', float('nan')):.3f} |"
        )


def print_http(rows: list[dict[str, float]]) -> None:
    print("\n### HTTP API under load (loopback, bounded)\n")
    print("| concurrency | requests | req/s | median ms | p99 ms | errors |\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['requests']} | {r['rps']:.0f} | {r['median_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']} |"
        )


if __name__ == "__main__":
    main()
