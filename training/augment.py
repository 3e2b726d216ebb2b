"""Extra views of a training image, made before the frozen encoder so their features can be cached.

A frozen-encoder run sees each drawing once per epoch through the same cached features; a view is a
second, fixed rendering of the drawing (mirrored, grey, pasted on a textured background) encoded once
and trained on with the drawing's captions. Each view is a pure function of the image and a seed
taken from the image's path, so the cache is the same on every machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter, ImageOps

# Pixels this close to white and connected to the border are the renderer's white canvas.
_WHITE_THRESHOLD = 24


def seed_for(path: str, view: str) -> int:
    """A stable per-image, per-view seed (not Python's salted hash)."""
    return int.from_bytes(hashlib.sha1(f"{view}:{path}".encode()).digest()[:8], "big")


def background_mask(img: Image.Image) -> np.ndarray:
    """(H, W) bool: the near-white pixels connected to the border (the canvas, not white inside a shape)."""
    white = np.asarray(img.convert("L")) >= 255 - _WHITE_THRESHOLD
    reach = np.zeros_like(white)
    reach[0, :], reach[-1, :], reach[:, 0], reach[:, -1] = (
        white[0, :],
        white[-1, :],
        white[:, 0],
        white[:, -1],
    )
    while True:  # grow from the border through white pixels (4-connected) until nothing changes
        grown = reach.copy()
        grown[1:] |= reach[:-1]
        grown[:-1] |= reach[1:]
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown &= white
        if np.array_equal(grown, reach):
            return reach
        reach = grown


def texture(size: int, rng: np.random.Generator) -> Image.Image:
    """A random photo-like background: smooth colour noise, a gradient or blurred stripes, plus grain."""
    kind = rng.integers(3)
    if kind == 0:  # blobs of colour at a random scale
        cells = int(rng.integers(2, 12))
        low = rng.integers(0, 256, size=(cells, cells, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC), np.float32)
    elif kind == 1:  # a two-colour gradient in a random direction
        a, b = rng.uniform(0, 255, size=(2, 3))
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
        t = np.clip((np.cos(angle) * xx + np.sin(angle) * yy + 1) / 2, 0, 1)[..., None]
        base = (1 - t) * a + t * b
    else:  # stripes or a check, blurred like fabric or tiles seen out of focus
        period = int(rng.integers(8, 48))
        yy, xx = np.mgrid[0:size, 0:size]
        on = ((xx // period) + (yy // period if rng.random() < 0.5 else 0)) % 2 == 0
        a, b = rng.uniform(0, 255, size=(2, 3))
        base = np.where(on[..., None], a, b)
        base = np.asarray(
            Image.fromarray(base.astype(np.uint8)).filter(
                ImageFilter.GaussianBlur(float(rng.uniform(0.5, 3)))
            ),
            np.float32,
        )
    grain = rng.normal(0, rng.uniform(2, 14), size=(size, size, 1))
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))


def composite(img: Image.Image, seed: int) -> Image.Image:
    """The drawing cut out of its white canvas, scaled to 55-100 % and pasted on a random texture."""
    rng = np.random.default_rng(seed)
    img = img.convert("RGB")
    size = max(img.size)
    mask = Image.fromarray((~background_mask(img)).astype(np.uint8) * 255)
    scale = float(rng.uniform(0.55, 1.0))
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    out = texture(size, rng)
    x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
    out.paste(img.resize((w, h)), (x, y), mask.resize((w, h)))
    return out


def grayscale(img: Image.Image, seed: int) -> Image.Image:
    return ImageOps.grayscale(img).convert("RGB")


def mirror(img: Image.Image, seed: int) -> Image.Image:
    return ImageOps.mirror(img.convert("RGB"))


VIEWS: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "composite": composite,
    "gray": grayscale,
    "mirror": mirror,
}


def check_views(views: tuple[str, ...]) -> None:
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown augment view {unknown[0]!r}; choose from {', '.join(sorted(VIEWS))}")
