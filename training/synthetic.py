"""A tiny synthetic corpus: coloured shapes on plain backgrounds with template captions."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

from training.data import ImageRecord, split_for, write_karpathy

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (40, 70, 220), "yellow": (235, 210, 40)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 0.25, "big": 0.45}
POSITIONS = {"left": 0.28, "right": 0.72}


def _draw(shape: str, colour: tuple[int, int, int], size: float, x: float, px: int) -> Image.Image:
    img = Image.new("RGB", (px, px), (250, 250, 245))
    draw = ImageDraw.Draw(img)
    r, cx, cy = size * px / 2, x * px, px / 2
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return img


def make_shapes_dataset(out_dir: Path, n_images: int = 120, image_px: int = 64, seed: int = 0) -> Path:
    """Write `n_images` PNGs under `out_dir/images` and `out_dir/dataset.json` (Karpathy style).

    Each image has two captions, e.g. "a big red circle on the left" and "red circle". Returns the
    JSON path; the same seed always gives the same files.
    """
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n_images):
        shape, colour = rng.choice(SHAPES), rng.choice(sorted(COLOURS))
        size, pos = rng.choice(sorted(SIZES)), rng.choice(sorted(POSITIONS))
        rel = f"images/{i:05d}.png"
        _draw(shape, COLOURS[colour], SIZES[size], POSITIONS[pos], image_px).save(out_dir / rel)
        captions = (
            ("a", size, colour, shape, "on", "the", pos),
            (colour, shape),
        )
        records.append(ImageRecord(str(i), rel, split_for(rel, 0.15, 0.15), captions))
    path = out_dir / "dataset.json"
    write_karpathy(path, records, "shapes")
    return path


def make_shapes(folder: Path, count: int, seed: int = 0, start: int = 0) -> list[str]:
    """``count`` generated PNGs named shape-NNNNN.png in ``folder``; returns their names."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(start, start + count):
        img = _draw(
            rng.choice(SHAPES),
            COLOURS[rng.choice(sorted(COLOURS))],
            SIZES[rng.choice(sorted(SIZES))],
            POSITIONS[rng.choice(sorted(POSITIONS))],
            32,
        )
        name = f"shape-{i:05d}.png"
        img.save(folder / name)
        names.append(name)
    return names


def write_tiny_checkpoint(path: Path, seed: int = 1) -> Path:
    """An untrained tiny captioner whose captions still vary with the image (seed 1, decoder scaled).

    For tests and benchmarks of the indexing pipeline, which need a deterministic captioner of the
    right format, not a good one (training even the tiny preset takes half a minute on a CPU).
    """
    import torch

    from training.checkpoint import save_checkpoint
    from training.config import PRESETS
    from training.model import ModelConfig, ShowAttendTell
    from training.vocab import Vocabulary

    torch.manual_seed(seed)
    vocab = Vocabulary.build(
        [
            [
                "a",
                "big",
                "small",
                "red",
                "green",
                "blue",
                "yellow",
                "circle",
                "square",
                "triangle",
                "on",
                "the",
                "left",
                "right",
            ]
        ]
    )
    config = ModelConfig(vocab_size=len(vocab), **PRESETS["tiny"]["model"])
    model = ShowAttendTell(config)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.mul_(3.0)
    save_checkpoint(
        path, {"model_config": config.to_dict(), "vocab": vocab.to_list(), "model": model.state_dict()}
    )
    return path
