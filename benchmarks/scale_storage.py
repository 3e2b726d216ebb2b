"""Ten million rows: `vector` against `halfvec` index storage, with and without filters, in one run.

    .venv/bin/python -m benchmarks.scale_storage --rows 10000000 --queries 200
    .venv/bin/python -m benchmarks.scale_storage --rows 1000000 --queries 200 --hnsw

The rows are benchmarks/caption_corpus.py's caption-like embeddings (20,000 really encoded captions, the
rest mixes of two with the same subject plus noise), generated page by page so that no more than one page
of 384-d vectors is ever in memory, and written by the indexer's own code: ``build_version`` fits PCA and
K-means on a sample, projects and assigns every row, COPYs it into ``images`` and publishes a bundle.
Each row gets a ``taken`` time from a random permutation, so ``taken_before`` keeps a chosen share of the
rows independently of where they lie in the space.

On the same rows and queries (held-out captions), one storage after the other:
  - ``vector``: the product's IVFFlat index on ``embedding::vector(d)`` (lists = the K-means clusters),
    searched by the service's own SQL (function_app/index_reader.py, filtered_search.py);
  - ``halfvec``: the same index on ``embedding::halfvec(d)`` (half the bytes per vector), searched by the
    same statement with the halfvec expression;
  - with ``--hnsw``, both again as HNSW (m 16, ef_construction 64);
index build time and size, recall@10 against exact search in the reduced space (numpy, over every row),
database median and p99 at concurrency 1 and 8; filtered recall@10 at 1 %, 10 % and 50 % kept through the
service's filtered path. The heap with a ``halfvec`` column instead of ``vector`` is worked out from the
column sizes PostgreSQL reports. Raw numbers: .data/bench/storage-<rows>.json.
"""

from __future__ import annotations

import argparse
import heapq
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from psycopg2 import sql

from benchmarks.caption_corpus import CACHE, encode_cached, sentences, subject_of
from benchmarks.scale import describe_latency, latency, recall, run_queries
from benchmarks.search_latency import ms

START = datetime(2000, 1, 1, tzinfo=UTC)
SELECTIVITIES = (0.01, 0.10, 0.50)
PAGE = 100_000
TRUTH = 100  # exact neighbours kept per query (recall@10 needs 10; 100 leaves room for a recall@100)
REAL = 20_000


class SyntheticRows:
    """``rows`` caption-like embeddings as the indexer's RowSource: the real ones first, then mixes, each page
    generated again from its own seed whenever it is read (so the rows are the same on every pass)."""

    def __init__(self, rows: int, real: np.ndarray, subjects: np.ndarray) -> None:
        self._rows = rows
        self._real = real
        self._by_subject = [np.flatnonzero(subjects == s) for s in range(int(subjects.max()) + 1)]
        self._subjects = subjects
        self._order = np.random.default_rng(3).permutation(rows)  # row i is taken START + order[i] hours

    def count(self) -> int:
        return self._rows

    def taken_order(self) -> np.ndarray:
        return self._order

    def embeddings(self, start: int, count: int) -> np.ndarray:
        """Rows start..start+count as (count, D) unit vectors."""
        real_part = self._real[start : min(start + count, self._real.shape[0])]
        extra = count - real_part.shape[0]
        if extra <= 0:
            return real_part
        rng = np.random.default_rng([7, start])
        first = rng.integers(0, self._real.shape[0], extra)
        second = np.empty(extra, dtype=np.int64)
        for subject, members in enumerate(self._by_subject):
            picked = self._subjects[first] == subject
            second[picked] = members[rng.integers(0, len(members), int(picked.sum()))]
        weight = rng.uniform(0.55, 0.95, size=(extra, 1)).astype(np.float32)
        mixed = weight * self._real[first] + (1 - weight) * self._real[second]
        mixed += rng.normal(scale=0.02, size=mixed.shape).astype(np.float32)
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        return np.concatenate([real_part, mixed.astype(np.float32)])

    def pages(self) -> Iterator[Any]:
        from indexing.catalog import CatalogPage

        for start in range(0, self._rows, PAGE):
            count = min(PAGE, self._rows - start)
            ids = [str(i) for i in range(start, start + count)]
            yield CatalogPage(
                ids,
                [f"{i}.jpg" for i in ids],
                [f"synthetic {i}" for i in ids],
                [""] * count,
                ["bench"] * count,
                self.embeddings(start, count),
                ["[]"] * count,
                [START + timedelta(hours=int(h)) for h in self._order[start : start + count]],
                ["exif"] * count,
                [""] * count,
            )


def build(rows: SyntheticRows, dsn: str, share: Path, encoder_dir: Path) -> tuple[str, float]:
    """The index through build_version (reused when the share's bundle already has every row)."""
    from core.bundle import BundleError, load_bundle
    from core.database import apply_schema, make_connector
    from function_app.index_reader import count_images
    from indexing.report import RunSummary
    from indexing.session import ConnectionSession
    from indexing.versions import FitOptions, build_version
    from indexing.write import PostgresWriter

    conn = make_connector(dsn, register_vector=False)()
    try:
        version = load_bundle(share, verify_checksums=False).version
        if count_images(conn, version) == rows.count():
            conn.close()
            return version, float("nan")
    except BundleError:
        pass
    apply_schema(conn)
    started = time.perf_counter()
    options = FitOptions(vector_index=None, show_progress=True)
    version = build_version(
        rows, PostgresWriter(ConnectionSession(conn)), share, encoder_dir, options, RunSummary("bench")
    )
    seconds = time.perf_counter() - started
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE images")
    conn.close()
    return version, seconds


def exact_truth(
    rows: SyntheticRows, bundle: Any, queries: np.ndarray, cache_path: Path
) -> dict[str, np.ndarray]:
    """Exact top ``TRUTH`` row ids per query over all rows, and top 10 among the rows each selectivity
    keeps, by one more pass over the pages (cached: the rows are deterministic)."""
    from core.space import project

    if cache_path.exists():
        with np.load(cache_path) as saved:
            return {key: saved[key] for key in saved.files}
    cuts = {f"{share:.2f}": round(share * rows.count()) for share in SELECTIVITIES}
    best: dict[str, list[list[tuple[float, int]]]] = {"all": [[] for _ in queries]}
    best.update({key: [[] for _ in queries] for key in cuts})
    order = rows.taken_order()
    for start in range(0, rows.count(), PAGE):
        count = min(PAGE, rows.count() - start)
        scores = project(rows.embeddings(start, count), bundle.pca_mean, bundle.pca_components) @ queries.T
        ids = np.arange(start, start + count)
        for key, limit in [("all", TRUTH), *((key, 10) for key in cuts)]:
            mask = slice(None) if key == "all" else order[start : start + count] < cuts[key]
            page_scores, page_ids = scores[mask], ids[mask]
            for q in range(len(queries)):
                column = page_scores[:, q]
                top = (
                    np.argpartition(-column, limit)[:limit] if len(column) > limit else np.arange(len(column))
                )
                merged = best[key][q] + [(float(page_scores[i, q]), int(page_ids[i])) for i in top]
                best[key][q] = heapq.nlargest(limit, merged)
        print(f"  exact truth: {start + count} rows", end="\r", flush=True)
    truth = {key: np.array([[i for _, i in top] for top in tops]) for key, tops in best.items()}
    np.savez(cache_path, allow_pickle=False, **truth)
    return truth


@cache
def ann_statement(dim: int, kind: str) -> sql.Composed:
    """index_reader's ANN statement with the indexed expression cast to ``kind`` (vector or halfvec)."""
    column = sql.SQL("(embedding::{}({}))").format(sql.SQL(kind), sql.Literal(dim))
    return sql.SQL(
        "SELECT image_id, name, caption, alternatives, tags, 1 - (embedding <=> %(query)s::vector({dim})) "
        "AS similarity, text_in_picture FROM images WHERE bundle_version = %(version)s "
        "ORDER BY {column} <=> %(query)s::{kind}({dim}) LIMIT %(k)s"
    ).format(column=column, kind=sql.SQL(kind), dim=sql.Literal(dim))


def build_ann(conn: Any, version: str, dim: int, kind: str, method: str, lists: int) -> dict[str, float]:
    """One ANN index of ``method`` on ``embedding::kind(dim)``; returns its build seconds and size."""
    ops = sql.SQL(f"{kind}_cosine_ops")
    options = sql.SQL("m = 16, ef_construction = 64" if method == "hnsw" else f"lists = {int(lists)}")
    name = sql.Identifier(index_name(version, method, kind))
    statement = sql.SQL(
        "CREATE INDEX {name} ON images USING {method} ((embedding::{kind}({dim})) {ops}) WITH ({options}) "
        "WHERE bundle_version = {version}"
    ).format(
        name=name,
        method=sql.SQL(method),
        kind=sql.SQL(kind),
        dim=sql.Literal(dim),
        ops=ops,
        options=options,
        version=sql.Literal(version),
    )
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '2GB'")
        cur.execute("SET max_parallel_maintenance_workers = 1")
        started = time.perf_counter()
        cur.execute(statement)
        seconds = time.perf_counter() - started
        cur.execute("ANALYZE images")
        cur.execute("SELECT pg_relation_size(%s)", (index_name(version, method, kind),))
        size = int(cur.fetchone()[0])
    print(f"  {method} on {kind}: built in {seconds:.0f} s, {size / 2**20:.0f} MiB", flush=True)
    return {"build_s": seconds, "index_mib": size / 2**20}


def index_name(version: str, method: str, kind: str) -> str:
    """Per version, as the product names its indexes, so runs of other sizes in the database keep theirs."""
    from core.vector_index import vector_index_name

    return vector_index_name(version, f"bench_{method}_{kind}")


def drop_ann(conn: Any, version: str) -> None:
    with conn.cursor() as cur:
        for method in ("ivfflat", "hnsw"):
            for kind in ("vector", "halfvec"):
                cur.execute(
                    sql.SQL("DROP INDEX IF EXISTS {}").format(
                        sql.Identifier(index_name(version, method, kind))
                    )
                )


def heap_sizes(conn: Any, version: str) -> dict[str, float]:
    """The heap as stored, and as it would be with a halfvec column (the difference in column bytes)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_relation_size('images'), pg_total_relation_size('images')")
        heap, total = cur.fetchone()
        cur.execute(
            "SELECT count(*), avg(pg_column_size(embedding)), avg(pg_column_size(embedding::halfvec)) "
            "FROM images TABLESAMPLE SYSTEM (1) WHERE bundle_version = %s",
            (version,),
        )
        _, vector_bytes, half_bytes = cur.fetchone()
        cur.execute("SELECT count(*) FILTER (WHERE bundle_version = %s), count(*) FROM images", (version,))
        count, everything = (int(n) for n in cur.fetchone())
    # Other runs' versions may share the table: this version's share of it, by rows.
    heap, total = heap * count / everything, total * count / everything
    saved = count * (float(vector_bytes) - float(half_bytes))
    return {
        "heap_mib": heap / 2**20,
        "heap_halfvec_mib": (heap - saved) / 2**20,
        "total_mib": total / 2**20,
        "vector_bytes": float(vector_bytes),
        "halfvec_bytes": float(half_bytes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=10, help="queries timed on the exact scan")
    parser.add_argument("--probes", default="4,8,16,32,64")
    parser.add_argument("--hnsw", action="store_true", help="also HNSW on both storages (slow to build)")
    parser.add_argument("--storages", default="vector,halfvec", help="which index storages to measure")
    parser.add_argument("--skip-filters", action="store_true", help="no filtered queries")
    args = parser.parse_args()

    from core.bundle import load_bundle
    from core.database import make_connector, start_embedded_postgres
    from core.space import project
    from core.text_encoder import OnnxSentenceEncoder
    from core.vector_index import Strategy
    from function_app.filtered_search import search_filtered
    from function_app.filters import SearchFilters
    from function_app.index_reader import search_index
    from function_app.planner import FILTERED_PROBE_FACTOR, SearchPlan
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = ensure_encoder_export(CACHE.parent / "cache")
    texts = sentences(REAL + args.queries, seed=1)
    real = encode_cached(texts[:REAL], encoder_dir, f"real-{REAL}")
    rows = SyntheticRows(args.rows, real, subject_of(texts[:REAL]))
    dsn = start_embedded_postgres(
        Path(tempfile.gettempdir()) / "caption-search-bench-storage", database="storage"
    )
    share = CACHE / f"storage-share-{args.rows}"
    version, build_seconds = build(rows, dsn, share, encoder_dir)
    bundle = load_bundle(share, verify_checksums=False)
    dim, lists = bundle.reduced_dim, bundle.cluster_count
    print(f"index: {args.rows} rows, PCA {dim}-d, {lists} lists (build {build_seconds:.0f} s)", flush=True)
    queries = project(
        OnnxSentenceEncoder(encoder_dir).encode(texts[REAL:]), bundle.pca_mean, bundle.pca_components
    )
    truth = exact_truth(rows, bundle, queries, CACHE / f"storage-truth-{args.rows}-{version}.npz")
    gold = [[str(i) for i in top] for top in truth["all"]]
    print("", flush=True)

    def connect() -> Any:
        return make_connector(dsn)()

    admin = connect()
    admin.autocommit = True
    drop_ann(admin, version)
    report: dict[str, Any] = {"rows": args.rows, "queries": args.queries, "dim": dim, "lists": lists}
    report.update(build_s=build_seconds, **heap_sizes(admin, version))
    results: list[dict[str, Any]] = []

    def measure(
        storage: str,
        method: str,
        setting: str,
        search: Callable[[Any, np.ndarray, int], list[str]],
        extra: dict[str, float],
        count: int | None = None,
    ) -> None:
        qs = queries[: count or len(queries)]
        found = run_queries(connect, search, qs, 10, 1)[0] if method != "exact" else gold[: len(qs)]
        row = {
            "storage": storage,
            "method": method,
            "setting": setting,
            "recall@10": recall(found, gold[: len(qs)], 10),
            **latency(connect, search, qs),
            **extra,
        }
        results.append(row)
        print(
            f"  {storage:8} {method:8} {setting:14} r@10 {row['recall@10']:.3f} " + describe_latency(row),
            flush=True,
        )

    def exact(conn: Any, q: np.ndarray, k: int) -> list[str]:
        found = search_index(conn, version, q, k, SearchPlan(Strategy.EXACT, (), 1, 40))
        conn.rollback()
        return [hit.image_id for hit in found]

    if args.exact_queries:
        measure("vector", "exact", "all rows", exact, {}, args.exact_queries)

    def ann(kind: str, probes: int, ef_search: int) -> Callable[[Any, np.ndarray, int], list[str]]:
        def search(conn: Any, q: np.ndarray, k: int) -> list[str]:
            if kind == "vector":  # the service's own statement
                strategy = Strategy.HNSW if ef_search else Strategy.IVFFLAT
                found = [
                    hit.image_id
                    for hit in search_index(
                        conn, version, q, k, SearchPlan(strategy, (), probes, ef_search or 40)
                    )
                ]
            else:
                with conn.cursor() as cur:
                    cur.execute(
                        "SELECT set_config('hnsw.ef_search', %s, true), set_config('ivfflat.probes', %s, true)",
                        (str(max(ef_search, k)), str(probes)),
                    )
                    cur.execute(
                        ann_statement(dim, kind), {"query": q.astype(np.float32), "version": version, "k": k}
                    )
                    found = [str(row[0]) for row in cur.fetchall()]
            conn.rollback()
            return found

        return search

    filtered_rows: list[dict[str, Any]] = []
    conn = connect()
    for kind in args.storages.split(","):
        built = build_ann(admin, version, dim, kind, "ivfflat", lists)
        for probes in (int(p) for p in args.probes.split(",")):
            measure(kind, "ivfflat", f"probes={probes}", ann(kind, probes, 0), built)
        if (
            kind == "vector" and not args.skip_filters
        ):  # the service's filtered path (filtered_search.py) at its own probes
            widened = 8 * FILTERED_PROBE_FACTOR
            for share_kept in SELECTIVITIES:
                key = f"{share_kept:.2f}"
                cut = round(share_kept * args.rows)
                filters = SearchFilters(taken_before=START + timedelta(hours=cut))
                plan = SearchPlan(Strategy.IVFFLAT, (), widened, 40)
                recalls, seconds = [], []
                for q, top in zip(queries, truth[key], strict=True):
                    started = time.perf_counter()
                    found = [str(r[0]) for r in search_filtered(conn, version, q, 10, plan, filters)]
                    seconds.append(time.perf_counter() - started)
                    conn.rollback()
                    recalls.append(len(set(found) & {str(i) for i in top}) / 10)
                row = {
                    "kept": share_kept,
                    "recall@10": float(np.mean(recalls)),
                    "median_ms": ms(seconds)[0],
                    "p99_ms": ms(seconds)[1],
                }
                filtered_rows.append(row)
                print(
                    f"  filtered, ivfflat probes {widened} + iterative + re-check, {share_kept:.0%} kept: r@10 {row['recall@10']:.3f} median {row['median_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms",
                    flush=True,
                )
        drop_ann(admin, version)
        if args.hnsw:
            built = build_ann(admin, version, dim, kind, "hnsw", lists)
            for ef in (40, 100, 200):
                measure(kind, "hnsw", f"ef_search={ef}", ann(kind, 1, ef), built)
            drop_ann(admin, version)
    conn.close()
    admin.close()
    report.update(results=results, filtered=filtered_rows)
    out = CACHE / f"storage-{args.rows}.json"
    out.write_text(json.dumps(report, indent=2))
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    rows = report["rows"]
    print(f"\n{rows:,} rows, {report['queries']} queries, PCA {report['dim']}-d, {report['lists']:,} lists")
    print(
        f"heap {report['heap_mib']:.0f} MiB with vector ({report['vector_bytes']:.0f} B a vector); "
        f"{report['heap_halfvec_mib']:.0f} MiB with halfvec ({report['halfvec_bytes']:.0f} B)"
    )
    print(
        "| storage | index | setting | recall@10 | c1 median ms | c1 p99 ms | c8 median ms | c8 p99 ms | build s | index MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in report["results"]:
        build = f"{r['build_s']:.0f} | {r['index_mib']:.0f}" if "build_s" in r else "– | –"
        print(
            f"| {r['storage']} | {r['method']} | {r['setting']} | {r['recall@10']:.3f} | {r['c1_median_ms']:.1f} | "
            f"{r['c1_p99_ms']:.1f} | {r['c8_median_ms']:.1f} | {r['c8_p99_ms']:.1f} | {build} |"
        )
    if report["filtered"]:
        print("\n| filter keeps | recall@10 | median ms | p99 ms |")
        print("|---|---|---|---|")
        for r in report["filtered"]:
            print(f"| {r['kept']:.0%} | {r['recall@10']:.3f} | {r['median_ms']:.1f} | {r['p99_ms']:.1f} |")


if __name__ == "__main__":
    main()
