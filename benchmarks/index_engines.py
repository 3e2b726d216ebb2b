"""The local engine against the Ray engine on the same images: images/s end to end and while mapping.

    .venv/bin/python -m benchmarks.index_engines [--images 200] [--checkpoint PT] [--address HOST:PORT]

Indexes the same generated images (training.synthetic.make_shapes) into an in-memory writer, once per
engine, and prints one row each: seconds and images/s from the run's start to its bundle (listing,
Ray's start-up and actors' model loads, map, store, fit, publish), and images/s while mapping (over the
second half of the stored images, so start-up, and what Ray buffered meanwhile, are left out). Without --address, the Ray engine starts a
Ray on this machine with all its cores. Without --checkpoint, the tiny untrained test captioner.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from functools import partial
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="the local engine's DataLoader workers")
    parser.add_argument("--checkpoint", type=Path, help="captioner (default: the tiny test captioner)")
    parser.add_argument("--address", help="a Ray cluster (default: a Ray started on this machine)")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--actor-cpus", type=float, default=0.75)
    parser.add_argument("--beam-size", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from core.images import LocalFolderStore
    from core.settings import LOCAL_DATA
    from indexing.encoder_export import ensure_encoder_export
    from indexing.memory import MemoryWriter
    from indexing.ray_engine import RayOptions, ray_pipeline
    from indexing.recipe import ModelRecipe
    from indexing.runner import IndexOptions, pipeline, run_index
    from indexing.versions import FitOptions
    from training.synthetic import make_shapes, write_tiny_checkpoint

    root = Path(tempfile.mkdtemp(prefix="index-engines-"))
    images = root / "images"
    make_shapes(images, args.images)
    checkpoint = args.checkpoint or write_tiny_checkpoint(root / "tiny.pt")
    encoder_dir = ensure_encoder_export(LOCAL_DATA / "cache")  # ENCODER_DIR's default, exported once
    recipe = ModelRecipe(checkpoint, "cpu", 1)
    options = IndexOptions(
        batch_size=args.batch_size,
        workers=args.workers,
        beam_size=args.beam_size,
        show_progress=False,
        fit=FitOptions(pca_dim=8, clusters=4, show_progress=False, vector_index=None),
    )
    source = partial(LocalFolderStore, images)
    ray = RayOptions(args.address, args.actors, args.actor_cpus, decode_cpus=0.25)
    print(f"{args.images} images, batch {args.batch_size}, beam {args.beam_size}, {checkpoint.name}\n")
    print("| engine | seconds | images/s end to end | images/s mapping (2nd half) |")
    print("|---|---|---|---|")
    for engine in ("local", "ray"):
        stored: list[tuple[float, int]] = []
        writer = MemoryWriter()

        def note(_: int, writer: MemoryWriter = writer, stored: list[tuple[float, int]] = stored) -> None:
            stored.append((time.perf_counter(), len(writer.catalog)))

        share = root / f"share-{engine}"
        if engine == "local":
            run = pipeline(source, writer, share, encoder_dir, recipe.load(), options, note)
        else:
            run = ray_pipeline(source, writer, share, encoder_dir, recipe, options, ray, note)
        started = time.perf_counter()
        summary = run_index(run, options)
        seconds = time.perf_counter() - started
        # The second half: by then Ray's start-up and the batches it buffered meanwhile are behind.
        first, first_count = next((t, n) for t, n in stored if n >= summary.indexed // 2)
        last, last_count = stored[-1]
        mapping = (last_count - first_count) / (last - first) if last > first else float("nan")
        label = (
            engine if engine == "local" else f"ray ({args.address or 'this machine'}, {args.actors} actors)"
        )
        print(f"| {label} | {seconds:.1f} | {summary.indexed / seconds:.1f} | {mapping:.1f} |")


if __name__ == "__main__":
    main()
