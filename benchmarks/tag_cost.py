"""What tagging costs an indexing run: the same images indexed without and with tags, alternated.

    .venv/bin/python -m benchmarks.tag_cost [--images 96] [--repeats 3] [--checkpoint PATH]

Each run indexes the same generated 640x480 JPEGs end to end (decode, caption, tag, encode, store, fit,
publish) into an emptied catalog; runs without and with the tagger alternate so that a noisy machine
hurts both alike. Prints each run's images/s and the tag stage's share, then the medians and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.index_throughput import default_checkpoint, make_images

DEMO_CHECKPOINT = Path(".data/demo/run/best.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--checkpoint", type=Path, help="default: the demo's captioner, else an untrained one"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import psycopg2

    from core.database import apply_schema, make_connector, start_embedded_postgres, stop_embedded_postgres
    from core.images import LocalFolderStore
    from indexing import loaders
    from indexing.encoder_export import ensure_encoder_export
    from indexing.refit import FitOptions
    from indexing.runner import IndexOptions, Models, pipeline, run_index
    from indexing.session import Database
    from indexing.write import PostgresWriter

    scratch = Path(tempfile.mkdtemp(prefix="tag-cost-"))
    try:
        checkpoint = args.checkpoint or (
            DEMO_CHECKPOINT if DEMO_CHECKPOINT.is_file() else default_checkpoint(scratch / "default.pt")
        )
        make_images(scratch / "images", args.images)
        encoder_dir = ensure_encoder_export(Path(".data") / "cache")
        dsn = os.environ.get("DATABASE_URL") or start_embedded_postgres(scratch / "pg")
        captioner = loaders.captioner(checkpoint, "cpu")
        tagger = loaders.tagger(captioner.config.backbone)
        if tagger is None:
            raise SystemExit(f"{checkpoint}: backbone {captioner.config.backbone} has no ImageNet head")
        options = IndexOptions(
            batch_size=args.batch_size,
            workers=1,
            show_progress=False,
            fit=FitOptions(show_progress=False, pca_dim=16, clusters=4),
        )
        rates: dict[bool, list[float]] = {False: [], True: []}
        print(f"{args.images} images, {checkpoint}, batch {args.batch_size}, beam {options.beam_size}")
        for repeat in range(args.repeats):
            for tags in (False, True):
                conn = psycopg2.connect(dsn)
                apply_schema(conn)
                with conn.cursor() as cur:
                    cur.execute("TRUNCATE catalog, images, clusters, skipped, listing")
                conn.commit()
                conn.close()
                models = Models(captioner, "bench", loaders.onnx_encoder, tagger if tags else None)
                share = scratch / f"share-{repeat}-{tags}"
                started = time.perf_counter()
                run = pipeline(
                    lambda: LocalFolderStore(scratch / "images"),
                    PostgresWriter(Database(make_connector(dsn))),
                    share,
                    encoder_dir,
                    models,
                    options,
                )
                summary = run_index(run, options)
                total = time.perf_counter() - started
                rates[tags].append(summary.indexed / total)
                print(
                    f"run {repeat + 1} {'with tags   ' if tags else 'without tags'}: "
                    f"{summary.indexed / total:6.2f} images/s, tag stage {summary.seconds.get('tag', 0.0):.2f} s, "
                    f"encode {summary.seconds['encode']:.2f} s, caption {summary.seconds['caption']:.2f} s"
                )
        without, with_tags = statistics.median(rates[False]), statistics.median(rates[True])
        print(
            f"median images/s: without tags {without:.2f}, with tags {with_tags:.2f} "
            f"(with/without = {with_tags / without:.3f})"
        )
    finally:
        if not os.environ.get("DATABASE_URL"):
            stop_embedded_postgres(scratch / "pg")
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
