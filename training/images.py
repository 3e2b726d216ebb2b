"""Image decoding and preprocessing with numpy/PIL/torch only (no torchvision).

Every image that reaches the model goes through `to_rgb` so grayscale, CMYK, palette, 16-bit and
alpha images all end up as 8-bit RGB with transparency composited on white.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

# Above this many pixels we refuse to decode: a 10,000 x 10,000 image is 100 M pixels and fine,
# a crafted 50,000 x 50,000 PNG would need gigabytes.
MAX_PIXELS = 150_000_000
# Huge images are shrunk right after decoding so later steps never hold more than this side.
MAX_SIDE = 2048

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageDecodeError(ValueError):
    """An image file that cannot be decoded (corrupt, truncated, not an image, too large)."""


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB; EXIF orientation applied; alpha composited on white."""
    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(scaled.astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def load_image(path: str | Path, max_side: int = MAX_SIDE) -> Image.Image:
    """Decode an image file to RGB, at most `max_side` pixels on its longer side.

    Raises `ImageDecodeError` naming the file for anything that is not a decodable image.
    """
    try:
        with warnings.catch_warnings():
            # PIL's own bomb warning fires at 89 M pixels; our limit (checked below) replaces it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            raw = Image.open(path)
        with raw:
            width, height = raw.size
            if width * height > MAX_PIXELS:
                raise ImageDecodeError(
                    f"image too large: {path}: {width}x{height} (limit {MAX_PIXELS} pixels)"
                )
            # JPEG can decode at 1/2, 1/4, 1/8 scale: far cheaper for huge photos.
            raw.draft("RGB", (max_side, max_side))
            raw.load()
            img = raw.copy()
            img.info = dict(raw.info)
            exif = raw.getexif()
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image too large: {path}: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"cannot decode image: {path}: {exc}") from exc
    if exif:
        img.getexif().update(exif)
    img = to_rgb(img)
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return img


def preprocess_image(
    img: Image.Image,
    image_size: int,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> torch.Tensor:
    """A (3, image_size, image_size) float32 tensor: RGB, squashed to a square, normalised.

    Safe to call in DataLoader workers; accepts any PIL mode and any size down to 1x1.
    """
    if image_size < 1:
        raise ValueError("image_size must be >= 1")
    img = to_rgb(img)
    if max(img.size) > 4 * image_size:
        # Two-step resize: a cheap reduce first, then a good filter, so 10,000 px images stay fast.
        img = img.reduce(max(1, min(img.size) // (2 * image_size)))
    img = img.resize((image_size, image_size), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()) / 255.0  # (S, S, 3)
    pixels = (pixels - torch.tensor(mean)) / torch.tensor(std)
    return pixels.permute(2, 0, 1).contiguous()  # (3, S, S)
