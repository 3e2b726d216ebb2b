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
