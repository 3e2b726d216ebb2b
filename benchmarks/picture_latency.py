"""Search by picture (POST /api/search/image) beside text search (GET /api/search): warm HTTP latency of
the visual route at scale.

    .venv/bin/python -m benchmarks.picture_latency --rows 100000 --queries 300

Builds (once, cached in .data/bench/share-<rows>-visual) a version through the real publishing code
(indexing.versions.build_version) whose rows carry both sides: search_latency.py's caption embeddings
(text queries) and pooled backbone features (pictures). The features are real ones, the demo
captioner's (``--checkpoint``) of the openclipart train and val pictures (cached by
evaluation.picture_queries), and synthesised ones around them (picture_corpus.py). Publishing fits the
visual PCA, projects every row into images.visual, builds the text IVFFlat and the visual HNSW index and
ships the picture encoder. Then:
  1. recall@10 of the visual HNSW search per ef_search against exact visual search, with its database
     time, every openclipart test picture (never indexed) as the query (``--skip-recall``: not);
  2. one server with the default settings; each round sends a text query (a held-out caption) and a
     picture (a PNG of the test split) as the raw body, the order alternating per round (alternate.py),
     so load drift hits both alike. Every picture answer must have taken the visual route through the
     HNSW index. Prints median and p99 of each, their ratio, and the parts the server reports (decode,
     picture = the backbone and head, assign = the visual PCA, database), with the load average,
for docs/picture_search.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.alternate import ms, print_parts, take_turns
from benchmarks.caption_corpus import CACHE, sentences
from benchmarks.picture_corpus import PictureRows, dataset_records, synthesised_features
from benchmarks.search_latency import caption_rows, finish_build, serving

EF_SEARCHES = (20, 40, 100, 200)


def ensure_visual_index(
    rows: int, real: int, dsn: str, share: Path, encoder_dir: Path, checkpoint: Path
) -> str:
    """The version in ``share`` of ``rows`` rows with caption embeddings and visual vectors, its text
    and visual ANN indexes and its picture encoder; built through build_version unless cached."""
    from core.bundle import BundleError, load_bundle
    from core.database import apply_schema, make_connector
    from core.vector_index import VISUAL_METHOD
    from evaluation.picture_queries import pooled_features
    from function_app.index_reader import ann_index_exists, count_images
    from indexing.picture_export import ensure_picture_export
    from indexing.report import RunSummary
    from indexing.session import ConnectionSession
    from indexing.versions import FitOptions, ImageRows, build_version
    from indexing.write import PostgresWriter

    conn = make_connector(dsn, register_vector=False)()
    try:
        bundle = load_bundle(share, verify_checksums=False)
        if (
            bundle.visual_components is not None
            and count_images(conn, bundle.version) == rows
            and ann_index_exists(conn, bundle.version, VISUAL_METHOD)
        ):
            conn.close()
            return bundle.version
    except BundleError:
        pass
    picture_dir = ensure_picture_export(CACHE.parent / "cache", checkpoint)
    records, root = dataset_records(("train", "val"))
    pooled = pooled_features(
        checkpoint, records, root, CACHE.parent / "picture-queries" / "openclipart-index"
    )
    print(f"  pooled features of {len(pooled)} real pictures, the rest synthesised around them")
    images, embeddings = caption_rows(rows, real, encoder_dir)
    source = PictureRows(ImageRows(images, embeddings), synthesised_features(pooled, seed=4))
    started = time.perf_counter()
    apply_schema(conn)
    options = FitOptions(show_progress=False, picture_dir=picture_dir)
    version = build_version(
        source, PostgresWriter(ConnectionSession(conn)), share, encoder_dir, options, RunSummary("build")
    )
    finish_build(conn, rows, started)
    return version


def recall_table(dsn: str, share: Path, checkpoint: Path, k: int) -> list[tuple[str, float, float, float]]:
    """recall@k of the visual HNSW search per ef_search against exact visual search, and database time,
    for every openclipart test picture (never indexed) as the query, its features as the service
    projects them."""
    from core.bundle import load_bundle
    from core.database import make_connector
    from core.visual import project_visual
    from evaluation.picture_queries import pooled_features
    from function_app.visual_search import search_visual

    bundle = load_bundle(share, verify_checksums=False)
    assert bundle.visual_components is not None
    records, root = dataset_records(("test",))
    cache = CACHE.parent / "picture-queries" / "openclipart-test"
    vectors = project_visual(pooled_features(checkpoint, records, root, cache), bundle.visual_components)
    conn = make_connector(dsn)()

    def run(ef_search: int | None) -> tuple[list[set[str]], list[float]]:
        found, times = [], []
        for vector in vectors:
            started = time.perf_counter()
            rows = search_visual(conn, bundle.version, vector, k, ef_search)
            times.append(time.perf_counter() - started)
            conn.rollback()  # ends the transaction that set hnsw.ef_search
            found.append({row.image_id for row in rows})
        return found, times

    exact, exact_times = run(None)
    table = [("exact (all rows)", 1.0, *ms(exact_times))]
    for ef_search in EF_SEARCHES:
        found, times = run(ef_search)
        recall = float(np.mean([len(f & t) / len(t) for f, t in zip(found, exact, strict=True)]))
        table.append((f"HNSW ef_search={ef_search}", recall, *ms(times)))
    conn.close()
    return table


def pictures(count: int) -> list[bytes]:
    """PNG files of the openclipart test split (never indexed), else generated shapes."""
    try:
        records, root = dataset_records(("test",))
    except FileNotFoundError:
        from training.synthetic import make_shapes

        folder = Path(tempfile.mkdtemp())
        return [(folder / name).read_bytes() for name in make_shapes(folder, count)]
    return [(root / r.path).read_bytes() for r in records[:count]]


def side_by_side(
    env: dict[str, str], texts: list[str], files: list[bytes], k: int
) -> tuple[dict[str, dict[str, list[float]]], Counter[tuple[str, str]]]:
    """Round trip and server timing parts (seconds) of alternating text and picture queries, and how
    many picture answers took each (route, strategy)."""
    import httpx

    routes: Counter[tuple[str, str]] = Counter()

    def seen(kind: str, body: dict[str, Any]) -> None:
        if kind == "picture":
            routes[body["route"], body["strategy"]] += 1

    headers = {"Content-Type": "image/png"}
    with serving(env) as base, httpx.Client(base_url=base, timeout=30) as client:
        parts = take_turns(
            {
                "text": lambda i: client.get("/api/search", params={"q": texts[i], "k": k}),
                "picture": lambda i: client.post(
                    "/api/search/image", params={"k": k}, content=files[i % len(files)], headers=headers
                ),
            },
            len(texts),
            inspect=seen,
        )
    return parts, routes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the index (default 100000)")
    parser.add_argument("--real", type=int, default=20_000, help="rows that are really encoded captions")
    parser.add_argument("--queries", type=int, default=300, help="queries of each kind")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--checkpoint", type=Path, default=Path(".data/demo/run/best.pt"))
    parser.add_argument("--skip-recall", action="store_true", help="only the HTTP round trip")
    args = parser.parse_args()

    from core.database import start_embedded_postgres
    from core.vector_index import DEFAULT_STRATEGY
    from function_app.planner import DEFAULT_EF_SEARCH, DEFAULT_NPROBE
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = ensure_encoder_export(CACHE.parent / "cache")
    dsn = start_embedded_postgres(Path(tempfile.gettempdir()) / "caption-search-bench-pg", database="bench")
    share = CACHE / f"share-{args.rows}-visual"
    print(
        f"index: {args.rows} rows ({args.real} encoded captions, the rest synthesised), with visual vectors"
    )
    ensure_visual_index(args.rows, args.real, dsn, share, encoder_dir, args.checkpoint)
    if not args.skip_recall:
        print(
            f"\n### Visual search: recall@{args.k} of the HNSW index against exact search, the openclipart "
            "test pictures as queries, database time per query\n"
        )
        print("| search | recall@10 | db median ms | db p99 ms |\n|---|---|---|---|")
        for name, recall, median, p99 in recall_table(dsn, share, args.checkpoint, args.k):
            print(f"| {name} | {recall:.3f} | {median:.1f} | {p99:.1f} |")
    texts = sentences(args.real + args.queries, seed=1)[args.real :]  # captions not in the index
    files = pictures(args.queries)
    sizes = sorted(len(f) for f in files)
    print(f"pictures: {len(files)} PNG files, median {sizes[len(sizes) // 2] / 1024:.0f} KiB")

    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": str(share),
        "IMAGES_DIR": str(CACHE),  # the benchmark rows name no real files
        "SEARCH_NPROBE": str(DEFAULT_NPROBE),
    }
    print(
        f"\n### Warm HTTP round trip, text and picture queries side by side, one server "
        f"(text {DEFAULT_STRATEGY} nprobe={DEFAULT_NPROBE}, pictures visual HNSW ef_search={DEFAULT_EF_SEARCH}), "
        f"k={args.k}, {len(texts)} rounds; load before: {os.getloadavg()[0]:.1f}\n"
    )
    parts, routes = side_by_side(env, texts, files, args.k)
    print_parts(parts)
    print(f"\nload after: {os.getloadavg()[0]:.1f}")
    print(f"picture answers by (route, strategy): {dict(routes)}")
    assert set(routes) == {("visual", "hnsw")}, (
        f"the pictures did not all take the visual HNSW route: {routes}"
    )
    picture, text = ms(parts["picture"]["round trip"])[0], ms(parts["text"]["round trip"])[0]
    encoder = ms(parts["picture"]["picture"])[0]
    print(f"picture / text median round trip: {picture / text:.2f}")
    print(f"the picture encoder's median: {encoder:.1f} ms, {encoder / picture:.0%} of the picture's median")


if __name__ == "__main__":
    main()
