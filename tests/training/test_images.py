from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageDecodeError,
    load_image,
    preprocess_image,
    to_rgb,
)

WHITE = torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)])


def test_alpha_is_composited_on_white() -> None:
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    x = preprocess_image(img, 4)
    assert x.shape == (3, 4, 4)
    assert torch.allclose(x[:, 0, 0], WHITE, atol=1e-5)


@pytest.mark.parametrize("mode", ["L", "CMYK", "LA", "P", "I;16", "F", "1"])
def test_every_mode_becomes_rgb(mode: str) -> None:
    img = Image.new(mode, (5, 3))
    assert to_rgb(img).mode == "RGB"
    assert preprocess_image(img, 7).shape == (3, 7, 7)


def test_palette_transparency_becomes_white() -> None:
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0] * 256)
    img.info["transparency"] = 0
    assert to_rgb(img).getpixel((0, 0)) == (255, 255, 255)


def test_tiny_and_very_wide_images() -> None:
    assert preprocess_image(Image.new("RGB", (1, 1), (10, 20, 30)), 16).shape == (3, 16, 16)
    wide = Image.new("RGB", (10_000, 40), (0, 0, 255))
    x = preprocess_image(wide, 32)
    assert x.shape == (3, 32, 32)
    assert float(x[2].mean()) > float(x[0].mean())  # still blue


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif.tobytes())
    assert load_image(path).size == (20, 40)


def test_huge_image_is_downscaled(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (10_000, 300), (0, 255, 0)).save(path)
    img = load_image(path, max_side=1000)
    assert img.size == (1000, 30)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (20_000, 8_000)).save(path)  # 160 M pixels, a few kB on disk
    with pytest.raises(ImageDecodeError, match="image too large"):
        load_image(path)


def test_corrupt_and_truncated_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ImageDecodeError, match="cannot decode image"):
        load_image(bad)
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    truncated = tmp_path / "trunc.png"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageDecodeError, match="trunc.png"):
        load_image(truncated)
