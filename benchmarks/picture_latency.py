"""Search by picture (POST /api/search/image) beside text search (GET /api/search): warm HTTP latency.

    .venv/bin/python -m benchmarks.picture_latency --rows 100000 --queries 300

Reuses search_latency.py's index (cached in .data/bench/share-<rows>, built through the real
publishing code on first use), re-published under the same version into share-<rows>-picture with the
picture encoder of ``--checkpoint`` (the demo captioner: EfficientNet-Lite0, exported to ONNX once).
One server with the default settings; each round sends a text query (a held-out caption) and a picture
(a PNG of the openclipart test split, else a generated shape) as the raw body, the order alternating
per round, so load drift hits both alike. Prints median and p99 of each, their ratio, and the parts
the server reports (decode, picture = the backbone and head, encode, database), for
docs/picture_search.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.caption_corpus import CACHE, sentences
from benchmarks.search_latency import ensure_index, ensure_ivfflat, ms, serving


def picture_share(share: Path, checkpoint: Path) -> Path:
    """``share``'s active bundle, re-published (same version and rows) with a picture encoder."""
    from core.bundle import load_bundle, write_bundle
    from indexing.picture_export import ensure_picture_export

    bundle = load_bundle(share, verify_checksums=False)
    target = share.parent / f"{share.name}-picture"
    if (target / "bundles" / bundle.version).is_dir():
        return target
    write_bundle(
        target,
        encoder_dir=bundle.encoder_dir,
        encoder_info=bundle.manifest["encoder"],
        pca_mean=bundle.pca_mean,
        pca_components=bundle.pca_components,
        centroids=bundle.centroids,
        extra={key: bundle.manifest[key] for key in ("corpus", "gate") if key in bundle.manifest},
        probes=bundle.probes,
        picture_dir=ensure_picture_export(CACHE.parent / "cache", checkpoint),
        version=bundle.version,
    )
    return target


def pictures(count: int) -> list[bytes]:
    """PNG files of the openclipart test split (.data/openclipart), else generated shapes."""
    dataset = Path(".data/openclipart/dataset.json")
    if dataset.is_file():
        from training.data import load_karpathy

        records = [r for r in load_karpathy(dataset) if r.split == "test"][:count]
        return [(dataset.parent / r.path).read_bytes() for r in records]
    from training.synthetic import make_shapes

    folder = Path(tempfile.mkdtemp())
    return [(folder / name).read_bytes() for name in make_shapes(folder, count)]


def side_by_side(
    env: dict[str, str], texts: list[str], files: list[bytes], k: int
) -> dict[str, dict[str, list[float]]]:
    """Round trip and server timing parts (seconds) of alternating text and picture queries."""
    import httpx

    def text(client: httpx.Client, i: int) -> httpx.Response:
        return client.get("/api/search", params={"q": texts[i], "k": k})

    def picture(client: httpx.Client, i: int) -> httpx.Response:
        headers = {"Content-Type": "image/png"}
        return client.post(
            "/api/search/image", params={"k": k}, content=files[i % len(files)], headers=headers
        )

    kinds = {"text": text, "picture": picture}
    parts: dict[str, dict[str, list[float]]] = {kind: {"round trip": []} for kind in kinds}
    with serving(env) as base, httpx.Client(base_url=base, timeout=30) as client:
        for i in range(20):  # warm-up: both encoders, the pool, the version facts, Postgres' buffers
            for ask in kinds.values():
                ask(client, i).raise_for_status()
        for i in range(len(texts)):
            order = list(kinds.items()) if i % 2 == 0 else list(kinds.items())[::-1]
            for kind, ask in order:
                started = time.perf_counter()
                response = ask(client, i)
                parts[kind]["round trip"].append(time.perf_counter() - started)
                response.raise_for_status()
                for name, value in response.json()["timing_ms"].items():
                    parts[kind].setdefault(name, []).append(value / 1000)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the index (default 100000)")
    parser.add_argument("--real", type=int, default=20_000, help="rows that are really encoded captions")
    parser.add_argument("--queries", type=int, default=300, help="queries of each kind")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--checkpoint", type=Path, default=Path(".data/demo/run/best.pt"))
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
    served = picture_share(share, args.checkpoint)
    texts = sentences(args.real + args.queries, seed=1)[args.real :]  # captions not in the index
    files = pictures(args.queries)
    sizes = sorted(len(f) for f in files)
    print(f"pictures: {len(files)} PNG files, median {sizes[len(sizes) // 2] / 1024:.0f} KiB")

    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": str(served),
        "IMAGES_DIR": str(CACHE),  # the benchmark rows name no real files
        "SEARCH_NPROBE": str(DEFAULT_NPROBE),
    }
    print(
        f"\n### Warm HTTP round trip, text and picture queries side by side, one server "
        f"({DEFAULT_STRATEGY}, nprobe={DEFAULT_NPROBE}), k={args.k}, {len(texts)} rounds\n"
    )
    parts = side_by_side(env, texts, files, args.k)
    print("| query | part | median ms | p99 ms |\n|---|---|---|---|")
    for kind, timings in parts.items():
        for name, values in timings.items():
            print(f"| {kind} | {name} | {ms(values)[0]:.1f} | {ms(values)[1]:.1f} |")
    ratio = ms(parts["picture"]["round trip"])[0] / ms(parts["text"]["round trip"])[0]
    print(f"\npicture / text median round trip: {ratio:.2f}")


if __name__ == "__main__":
    main()
