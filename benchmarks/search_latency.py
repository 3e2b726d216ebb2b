"""Warm query latency over HTTP and recall of cluster routing, on a 100k-row index in real Postgres.

    .venv/bin/python -m benchmarks.search_latency --rows 100000 --queries 300
    .venv/bin/python -m benchmarks.search_latency --rows 100000 --queries 300 --before /tmp/before

Builds (once, cached in .data/bench) an index of caption-like embeddings (see caption_corpus.py) in an
embedded PostgreSQL with pgvector through the real publishing code, then:
  1. recall@10 of cluster routing against exact search over all rows (same reduced space), per nprobe,
     with the database time of each;
  2. the whole HTTP round trip to a uvicorn server on loopback at the default nprobe, median and p99,
     split into encode / assign / database as the server reports them.
Each row has tags like the tagger's (a class name and generic WordNet words, core/tags.py). With
``--before TREE`` (a `git worktree` of an earlier commit) step 2 serves the same index from that tree
and from this one, taking turns, instead of hybrid beside cosine-only ranking.
Prints markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from indexing.versions import CaptionedImage

from benchmarks.alternate import Ask, ms, take_turns
from benchmarks.caption_corpus import CACHE, encode_cached, sentences, subject_of, synthesise

NPROBES = (1, 2, 4, 8, 16, 32, 64)
# Generic words the tagger adds above a class name (indexing/tagging/): each row gets some of them.
_GENERIC_WORDS = (
    "animal organism living thing whole object artifact instrumentality device structure covering "
    "container vehicle conveyance plant food commodity equipment implement creation"
)
GENERIC = tuple(_GENERIC_WORDS.split())


def synthetic_tags(caption: str, row: int) -> tuple[tuple[str, float], ...]:
    """A class name (the caption's subject's last word) and five generic words, as the tagger stores."""
    rng = np.random.default_rng(row)
    confidence = round(float(rng.uniform(0.2, 0.9)), 4)
    generic = rng.choice(len(GENERIC), 5, replace=False)
    return ((caption.split()[1], confidence), *((GENERIC[g], confidence) for g in generic))


def caption_rows(rows: int, real: int, encoder_dir: Path) -> tuple[list[CaptionedImage], np.ndarray]:
    """The benchmark index's ``rows`` images r0, r1, ... and their (rows, D) embeddings: ``real`` encoded
    captions of the corpus, the rest synthesised around them (caption_corpus.py)."""
    from indexing.versions import CaptionedImage

    texts = sentences(real, seed=1)
    embeddings = synthesise(
        encode_cached(texts, encoder_dir, f"real-{real}"), subject_of(texts), rows, seed=2
    )
    captions = [texts[i] if i < real else f"synthetic caption {i}" for i in range(rows)]
    images = [
        CaptionedImage(f"r{i}", f"r{i}.jpg", captions[i], tags=synthetic_tags(captions[i], i))
        for i in range(rows)
    ]
    return images, embeddings


def ensure_index(rows: int, real: int, dsn: str, share: Path, encoder_dir: Path) -> str:
    from core.bundle import BundleError, load_bundle
    from core.database import make_connector
    from function_app.index_reader import count_images
    from indexing.versions import build_index

    conn = make_connector(dsn, register_vector=False)()
    try:
        version = load_bundle(share, verify_checksums=False).version
        if count_images(conn, version) == rows and _has_tags(conn, version):
            return version
    except BundleError:
        pass
    images, embeddings = caption_rows(rows, real, encoder_dir)
    started = time.perf_counter()
    version = build_index(images, conn=conn, share=share, encoder_dir=encoder_dir, embeddings=embeddings)
    finish_build(conn, rows, started)
    return version


def finish_build(conn: Any, rows: int, started: float) -> None:
    """After publishing: fresh planner statistics, ``conn`` closed, the build's time printed."""
    with conn.cursor() as cur:
        cur.execute("ANALYZE images")
    conn.commit()
    conn.close()
    print(f"  built and published {rows} rows in {time.perf_counter() - started:.0f} s")


def _has_tags(conn: object, version: str) -> bool:
    """Whether the cached index has the tags of today's rows."""
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "SELECT tags <> '[]' FROM images WHERE bundle_version = %s LIMIT 1",
            (version,),
        )
        row = cur.fetchone()
    return bool(row and row[0])


def ensure_ivfflat(dsn: str, share: Path, version: str) -> None:
    """The service's default index, for an index cached from before it was built at publish time."""
    from core.bundle import load_bundle
    from core.database import make_connector
    from core.vector_index import create_vector_index

    bundle = load_bundle(share, verify_checksums=False)
    conn = make_connector(dsn, register_vector=False)()
    create_vector_index(conn, version, bundle.reduced_dim, "ivfflat", lists=bundle.cluster_count)
    conn.commit()
    conn.close()


def recall_table(dsn: str, share: Path, queries: list[str], k: int) -> list[tuple[str, float, float, float]]:
    """recall@k against exact search and database time, for cluster routing and IVFFlat per nprobe."""
    from core.bundle import load_bundle
    from core.database import make_connector
    from core.space import nearest_clusters, project
    from core.text_encoder import OnnxSentenceEncoder
    from core.vector_index import Strategy
    from function_app.index_reader import SearchPlan, ann_index_exists, search_index

    bundle = load_bundle(share, verify_checksums=False)
    vectors = project(
        OnnxSentenceEncoder(bundle.encoder_dir).encode(queries), bundle.pca_mean, bundle.pca_components
    )
    conn = make_connector(dsn)()

    def run(plan_for: Callable[[np.ndarray], SearchPlan]) -> tuple[list[set[str]], list[float]]:
        found, times = [], []
        for vector in vectors:
            started = time.perf_counter()
            rows = search_index(conn, bundle.version, vector, k, plan_for(vector))
            times.append(time.perf_counter() - started)
            found.append({r.image_id for r in rows})
        return found, times

    def probing(strategy: Strategy, nprobe: int) -> Callable[[np.ndarray], SearchPlan]:
        def plan(vector: np.ndarray) -> SearchPlan:
            if strategy is not Strategy.CLUSTERS:
                return SearchPlan(strategy, (), nprobe)
            return SearchPlan(
                strategy, tuple(nearest_clusters(vector, bundle.centroids, nprobe)[0].tolist()), nprobe
            )

        return plan

    exact, exact_times = run(lambda _: SearchPlan(Strategy.EXACT))
    table = [("exact (all rows)", 1.0, *ms(exact_times))]
    ann = ann_index_exists(conn, bundle.version, "ivfflat")
    for strategy in [Strategy.CLUSTERS] + ([Strategy.IVFFLAT] if ann else []):
        for nprobe in NPROBES:
            found, times = run(probing(strategy, nprobe))
            recall = float(np.mean([len(f & t) / len(t) for f, t in zip(found, exact, strict=True)]))
            table.append((f"{strategy} nprobe={nprobe}", recall, *ms(times)))
    conn.close()
    return table


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(env: dict[str, str], tree: Path | None = None) -> Iterator[str]:
    """Run `function_app.cli serve` with ``env`` on a free port until healthy (from the checkout
    ``tree``; None: this one); yields its base URL."""
    import httpx

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "function_app.cli", "serve", "--port", str(port)],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become healthy within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(10)


def http_latency(
    variants: dict[str, tuple[dict[str, str], Path | None]], queries: list[str], k: int
) -> dict[str, dict[str, tuple[float, float]]]:
    """Per variant (its server's env and checkout), median and p99 of each part; one server per
    variant, all up at once and asked in turn query by query (alternate.take_turns), so load drift hits
    them alike."""
    import httpx

    parts = ("round trip", "encode", "assign", "database")
    with ExitStack() as stack:
        clients = {
            name: stack.enter_context(
                httpx.Client(base_url=stack.enter_context(serving(env, tree)), timeout=10)
            )
            for name, (env, tree) in variants.items()
        }

        def asking(client: httpx.Client) -> Ask:
            return lambda i: client.get("/api/search", params={"q": queries[i], "k": k})

        times = take_turns({name: asking(client) for name, client in clients.items()}, len(queries))
    return {name: {part: ms(got[part]) for part in parts} for name, got in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the index (default 100000)")
    parser.add_argument("--real", type=int, default=20_000, help="rows that are really encoded captions")
    parser.add_argument("--queries", type=int, default=300, help="held-out caption queries")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--before",
        type=Path,
        help="an earlier checkout: serve the index from it and from this tree, in turns",
    )
    parser.add_argument("--skip-recall", action="store_true", help="only the HTTP round trip")
    args = parser.parse_args()

    import tempfile

    from core.database import start_embedded_postgres
    from core.vector_index import DEFAULT_STRATEGY
    from function_app.planner import DEFAULT_NPROBE
    from function_app.ranking import DEFAULT_TEXT_WEIGHT
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = ensure_encoder_export(CACHE.parent / "cache")
    dsn = start_embedded_postgres(Path(tempfile.gettempdir()) / "caption-search-bench-pg", database="bench")
    share = CACHE / f"share-{args.rows}"
    print(f"index: {args.rows} rows ({args.real} encoded captions, the rest synthesised)")
    version = ensure_index(args.rows, args.real, dsn, share, encoder_dir)
    ensure_ivfflat(dsn, share, version)
    queries = sentences(args.real + args.queries, seed=1)[args.real :]  # captions not in the index

    if not args.skip_recall:
        print(
            f"\n### Recall@{args.k} against exact search, {len(queries)} queries, database time per query\n"
        )
        print("| strategy | recall@10 | db median ms | db p99 ms |\n|---|---|---|---|")
        for name, recall, median, p99 in recall_table(dsn, share, queries, args.k):
            print(f"| {name} | {recall:.3f} | {median:.1f} | {p99:.1f} |")

    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": str(share),
        "IMAGES_DIR": str(CACHE),  # the benchmark rows name no real files
        "SEARCH_NPROBE": str(DEFAULT_NPROBE),
    }
    beside = f"this tree beside {args.before}" if args.before else "beside cosine only"
    print(
        f"\n### Warm HTTP round trip, default strategy ({DEFAULT_STRATEGY}, nprobe={DEFAULT_NPROBE}), k={args.k}, "
        f"{len(queries)} sequential queries; the default ranking (hybrid with full-text search, cutoff) "
        f"{beside}, servers taking turns query by query\n"
    )
    default = f"default (hybrid w={DEFAULT_TEXT_WEIGHT}, the bundle's calibrated gate)"
    variants: dict[str, tuple[dict[str, str], Path | None]] = {default: (env, None)}
    if args.before:
        variants = {
            f"{default}, {args.before}": (env, args.before.resolve()),
            f"{default}, this tree": (env, None),
        }
    else:
        variants["cosine only (SEARCH_TEXT_WEIGHT=0)"] = ({**env, "SEARCH_TEXT_WEIGHT": "0"}, None)
    halves = [queries[: len(queries) // 2], queries[len(queries) // 2 :]]
    measured: dict[str, list[dict[str, tuple[float, float]]]] = {name: [] for name in variants}
    for half in halves:  # servers restarted between halves; within one, they take turns per query
        for name, got in http_latency(variants, half, args.k).items():
            measured[name].append(got)
    print(
        "| ranking | part | median ms (1st half, 2nd half) | p99 ms (1st half, 2nd half) |\n|---|---|---|---|"
    )
    for name, runs in measured.items():
        for part in runs[0]:
            medians = ", ".join(f"{run[part][0]:.1f}" for run in runs)
            p99s = ", ".join(f"{run[part][1]:.1f}" for run in runs)
            print(f"| {name} | {part} | {medians} | {p99s} |")


if __name__ == "__main__":
    main()
