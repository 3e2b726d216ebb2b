"""The product's halfvec index storage (INDEX_VECTOR_STORAGE) against vector, side by side, in one run.

    .venv/bin/python -m benchmarks.halfvec_search --rows 100000 --queries 200

The same caption-like rows (benchmarks/caption_corpus.py, as benchmarks/scale.py makes them) are built
twice by the indexer's own builder (``build_index``, the default IVFFlat index, lists = the K-means
clusters), once with each storage, into an embedded PostgreSQL of this script's own (removed at the end).
The held-out caption queries then run through the service's own statements (index_reader.search_index,
and filtered_search.search_filtered at 10 % kept by date), the two versions taking turns query by query
so that load drift on a shared machine hits both alike: recall@10 against numpy's exact top 10 in the
reduced space, database median and p99 ms at concurrency 1, the largest difference between a returned
similarity and numpy's full-precision cosine, index build seconds and size. Raw numbers:
.data/bench/halfvec-<rows>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from benchmarks.alternate import ms
from benchmarks.caption_corpus import CACHE, sentences
from benchmarks.filtered_recall import START
from benchmarks.scale import vectors

if TYPE_CHECKING:
    from core.vector_index import VectorStorage

STORAGES: tuple[VectorStorage, ...] = ("vector", "halfvec")
K = 10
KEPT = 0.10  # the filtered rows' share


def build(
    conn: Any,
    storage: VectorStorage,
    texts: list[str],
    full: np.ndarray,
    order: np.ndarray,
    encoder_dir: Path,
) -> tuple[str, Path, float]:
    """One version of every row with its IVFFlat index on ``storage``: (version, its share, seconds).
    Row i was taken START + order[i] hours: set when the rows are written, as an UPDATE afterwards would
    leave a second entry per row in the index."""
    from indexing.versions import CaptionedImage, build_index

    images = [
        CaptionedImage(
            f"{i}",
            f"{i}.jpg",
            texts[i] if i < len(texts) else f"synthetic {i}",
            taken=START + timedelta(hours=int(order[i])),
            taken_from="exif",
        )
        for i in range(len(full))
    ]
    share = Path(tempfile.mkdtemp(prefix=f"halfvec-bench-{storage}-"))
    started = time.perf_counter()
    version = build_index(
        images, conn=conn, share=share, encoder_dir=encoder_dir, embeddings=full, vector_storage=storage
    )
    return version, share, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=20_000, help="rows that are really encoded captions")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--probes", default="4,8,16,32")
    args = parser.parse_args()

    from core.bundle import load_bundle
    from core.database import make_connector, start_embedded_postgres, stop_embedded_postgres
    from core.space import project
    from core.text_encoder import OnnxSentenceEncoder
    from core.vector_index import Strategy, vector_index_name
    from function_app.filtered_search import search_filtered
    from function_app.filters import SearchFilters
    from function_app.index_reader import search_index
    from function_app.planner import FILTERED_PROBE_FACTOR, SearchPlan
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = ensure_encoder_export(CACHE.parent / "cache")
    texts, full = vectors(args.rows, args.real, encoder_dir)
    order = np.random.default_rng(3).permutation(args.rows)  # row i taken START + order[i] hours
    folder = Path(tempfile.mkdtemp(prefix="caption-search-bench-halfvec-"))
    dsn = start_embedded_postgres(folder / "data", database="halfvec")
    shares: list[Path] = []
    try:
        conn = make_connector(dsn, register_vector=False)()
        versions: dict[str, str] = {}
        report: dict[str, Any] = {"rows": args.rows, "queries": args.queries, "builds": {}}
        for storage in STORAGES:
            version, share, seconds = build(conn, storage, texts, full, order, encoder_dir)
            versions[storage] = version
            shares.append(share)
            assert load_bundle(share, verify_checksums=False).vector_storage == storage
            with conn.cursor() as cur:
                cur.execute("SELECT pg_relation_size(%s)", (vector_index_name(version, "ivfflat"),))
                size = int(cur.fetchone()[0])
            conn.commit()
            report["builds"][storage] = {"build_s": seconds, "index_mib": size / 2**20}
            print(f"{storage}: built in {seconds:.0f} s, IVFFlat index {size / 2**20:.1f} MiB", flush=True)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE images")
        conn.close()

        bundle = load_bundle(shares[0], verify_checksums=False)
        dim, lists = bundle.reduced_dim, bundle.cluster_count
        report.update(dim=dim, lists=lists)
        query_texts = sentences(args.real + args.queries, seed=1)[args.real :]
        queries = project(
            OnnxSentenceEncoder(encoder_dir).encode(query_texts), bundle.pca_mean, bundle.pca_components
        )  # (Q, d)
        reduced = project(full, bundle.pca_mean, bundle.pca_components)  # (N, d)
        keep = np.flatnonzero(order < round(KEPT * args.rows))
        truth = [set(np.argsort(-(reduced @ q))[:K].tolist()) for q in queries]
        kept_truth = [set(keep[np.argsort(-(reduced[keep] @ q))[:K]].tolist()) for q in queries]
        filters = SearchFilters(taken_before=START + timedelta(hours=round(KEPT * args.rows)))

        conn = make_connector(dsn)()
        cases: list[tuple[str, int, SearchFilters | None]] = [
            (f"probes={p}", p, None) for p in (int(p) for p in args.probes.split(","))
        ]
        cases.append((f"10 % kept, probes={8 * FILTERED_PROBE_FACTOR}", 8 * FILTERED_PROBE_FACTOR, filters))
        rows = []
        for name, probes, active in cases:
            found: dict[str, list[float]] = {s: [] for s in STORAGES}
            times: dict[str, list[float]] = {s: [] for s in STORAGES}
            worst = {s: 0.0 for s in STORAGES}
            for i, q in enumerate(queries):
                for storage in STORAGES[i % 2 :] + STORAGES[: i % 2]:  # taking turns
                    plan = SearchPlan(Strategy.IVFFLAT, probes=probes, storage=storage)
                    started = time.perf_counter()
                    if active is None:
                        hits = [
                            (h.image_id, h.similarity)
                            for h in search_index(conn, versions[storage], q, K, plan)
                        ]
                    else:
                        hits = [
                            (str(r[0]), cast(float, r[5]))
                            for r in search_filtered(conn, versions[storage], q, K, plan, active)
                        ]
                    times[storage].append(time.perf_counter() - started)
                    conn.rollback()
                    ids = [int(image_id) for image_id, _ in hits]
                    gold = truth[i] if active is None else kept_truth[i]
                    found[storage].append(len(set(ids) & gold) / K)
                    exact = reduced[ids] @ q
                    worst[storage] = max(worst[storage], float(np.max(np.abs(exact - [s for _, s in hits]))))
            for storage in STORAGES:
                median, p99 = ms(times[storage])
                row = {
                    "case": name,
                    "storage": storage,
                    "recall@10": float(np.mean(found[storage])),
                    "median_ms": median,
                    "p99_ms": p99,
                    "max_similarity_error": worst[storage],
                }
                rows.append(row)
                print(
                    f"  {name:28} {storage:8} r@10 {row['recall@10']:.3f} median {median:.2f} ms "
                    f"p99 {p99:.2f} ms |sim - exact| <= {worst[storage]:.1e}",
                    flush=True,
                )
        conn.close()
        report["results"] = rows
        (CACHE / f"halfvec-{args.rows}.json").write_text(json.dumps(report, indent=2))
        print_report(report)
    finally:
        stop_embedded_postgres(folder / "data")
        shutil.rmtree(folder, ignore_errors=True)
        for share in shares:
            shutil.rmtree(share, ignore_errors=True)


def print_report(report: dict[str, Any]) -> None:
    builds = report["builds"]
    print(
        f"\n{report['rows']:,} rows, {report['queries']} queries, PCA {report['dim']}-d, {report['lists']} lists"
    )
    print(
        "IVFFlat index: "
        + ", ".join(
            f"{s} {b['index_mib']:.1f} MiB (built with the version in {b['build_s']:.0f} s)"
            for s, b in builds.items()
        )
    )
    print("| search | storage | recall@10 | median ms | p99 ms | max abs(similarity - exact cosine) |")
    print("|---|---|---|---|---|---|")
    for r in report["results"]:
        print(
            f"| {r['case']} | {r['storage']} | {r['recall@10']:.3f} | {r['median_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['max_similarity_error']:.1e} |"
        )


if __name__ == "__main__":
    main()
