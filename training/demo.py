"""A captioner in minutes on a 2-core CPU: `python -m training.demo --out .data/demo`.

Uses the openclipart corpus when Debian's `openclipart-svg` is installed (a fixed sample of it),
otherwise the synthetic shapes corpus; the frozen EfficientNet-Lite0 encodes every image once and
only the decoder trains, on cached features.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import torch

from training.openclipart import build_openclipart, find_english_words, find_openclipart_root
from training.synthetic import make_shapes_dataset
from training.train import PRESETS, TrainConfig, train

log = logging.getLogger(__name__)


def demo_dataset(out_dir: Path, max_images: int = 1200) -> Path:
    """Build (or reuse) the demo corpus under `out_dir`; returns its dataset JSON."""
    root = find_openclipart_root()
    if root is None:
        log.warning("openclipart-svg is not installed; using the synthetic shapes corpus")
        path = Path(out_dir) / "shapes" / "dataset.json"
        return (
            path
            if path.is_file()
            else make_shapes_dataset(path.parent, n_images=max_images // 2, image_px=96)
        )
    path = Path(out_dir) / f"openclipart-{max_images}" / "dataset.json"
    if path.is_file():
        return path
    return build_openclipart(
        root, path.parent, size=224, limit=max_images, english_words=find_english_words()
    )


def train_demo_captioner(
    out_dir: Path, max_images: int = 1200, epochs: int | None = None, threads: int | None = None
) -> Path:
    """Train the demo preset; returns the best checkpoint (load it with `training.caption.load_captioner`)."""
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    dataset = demo_dataset(out_dir, max_images)
    preset = dict(PRESETS["demo"])
    config = TrainConfig(**{**preset, "dataset": str(dataset), "out_dir": str(Path(out_dir) / "run")})
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    best = train(config)
    log.info("demo captioner ready in %.0f s: %s", time.perf_counter() - start, best)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--max-images", type=int, default=1200)
    p.add_argument("--epochs", type=int)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(train_demo_captioner(args.out, args.max_images, args.epochs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
