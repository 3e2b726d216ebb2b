"""Image decoding and preprocessing with numpy/PIL/torch only (no torchvision).

Every image that reaches the model goes through `to_rgb` so grayscale, CMYK, palette, 16-bit and
alpha images all end up as 8-bit RGB with transparency composited on white.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from PIL import Image

from core.pictures import square_pixels, to_rgb

# Above this many pixels we refuse to decode: a 10,000 x 10,000 image is 100 M pixels and fine,
# a crafted 50,000 x 50,000 PNG would need gigabytes.
MAX_PIXELS = 150_000_000
# Huge images are shrunk right after decoding so later steps never hold more than this side.
MAX_SIDE = 2048

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageDecodeError(ValueError):
    """An image file that cannot be decoded (corrupt, truncated, not an image, too large)."""


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
    # core.pictures holds the steps so that the Function (no torch) preprocesses a query picture alike.
    return torch.from_numpy(square_pixels(img, image_size, mean, std))  # (3, S, S)
