"""Pictures to model input with PIL and numpy only: shared by training (under torch) and the Function.

``to_rgb`` and ``square_pixels`` are the one definition of how an image reaches the backbone, so a
query picture in the Function is preprocessed exactly as the indexer preprocessed the collection.
``decode_upload`` opens an uploaded picture with the limits a public endpoint needs. PIL is imported
where it is used: the API registers ``PictureError``'s handler at start-up, and cold start is a feature.
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

# What an upload may be: raster formats PIL decodes natively. SVG would need a renderer (and can
# reference other files); TIFF, PSD and friends bring little and widen the attack surface.
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
UPLOAD_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
MAX_UPLOAD_PIXELS = 50_000_000  # a 50 MP photo decodes into 150 MB of RGB; more is refused unread
MAX_SIDE = 2048  # decoded pictures are shrunk to this longer side at once (as training.images does)


class PictureError(ValueError):
    """An upload that is not a usable picture; ``status`` is the HTTP status that says so (400, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB; EXIF orientation applied; alpha composited on white."""
    from PIL import Image, ImageOps

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


def square_pixels(
    img: Image.Image, image_size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> np.ndarray:
    """A (3, image_size, image_size) float32 array: RGB, squashed to a square, normalised."""
    from PIL import Image

    if image_size < 1:
        raise ValueError("image_size must be >= 1")
    img = to_rgb(img)
    if max(img.size) > 4 * image_size:
        # Two-step resize: a cheap reduce first, then a good filter, so 10,000 px images stay fast.
        img = img.reduce(max(1, min(img.size) // (2 * image_size)))
    img = img.resize((image_size, image_size), Image.Resampling.BICUBIC)
    pixels = np.asarray(img, dtype=np.float32) / np.float32(255.0)  # (S, S, 3)
    scaled = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(scaled.transpose(2, 0, 1), dtype=np.float32)  # (3, S, S)


def decode_upload(data: bytes, max_pixels: int = MAX_UPLOAD_PIXELS, max_side: int = MAX_SIDE) -> Image.Image:
    """An uploaded picture as RGB, at most ``max_side`` on its longer side; PictureError says what is wrong.

    The pixel count is checked from the header before anything is decoded, so a decompression bomb
    costs nothing.
    """
    from PIL import Image

    if not data:
        raise PictureError(400, "the picture is empty: send the image's bytes as the request body")
    if _looks_like_svg(data):
        raise PictureError(415, "SVG pictures are not accepted: send a PNG, JPEG, GIF, WebP or BMP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit is lower
            raw = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)
    except Image.DecompressionBombError:  # past twice PIL's own limit: it refuses before we see the size
        raise PictureError(413, f"the picture has too many pixels; the limit is {max_pixels:,}") from None
    except (OSError, SyntaxError, ValueError):
        raise PictureError(
            400, "the body is not a picture: send a PNG, JPEG, GIF, WebP or BMP image"
        ) from None
    with raw:
        width, height = raw.size
        if width * height > max_pixels:
            raise PictureError(
                413, f"the picture has too many pixels: {width}x{height}; the limit is {max_pixels:,}"
            )
        try:
            raw.draft("RGB", (max_side, max_side))  # JPEG decodes at 1/2..1/8 scale: far cheaper
            raw.load()
            img = to_rgb(raw)
        except (OSError, SyntaxError, ValueError) as exc:
            raise PictureError(400, f"the picture is truncated or corrupt: {exc}") from None
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return img


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head
