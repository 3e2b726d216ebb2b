"""The read stage alone: decoding odd images, reasons for bad ones, DataLoader workers keep the order."""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

import pytest
from PIL import Image

from core.images import ImageNotFound, ImageStoreUnavailable, LocalFolderStore
from indexing.read import DecodeFailure, WorkItem, decode_image, make_loader, read_item
from tests.indexing.pipeline_helpers import png_header_only
from training.images import preprocess_image

PREP = partial(preprocess_image, image_size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_exif_orientation_is_honoured() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = _encode(Image.new("RGB", (40, 20), "red"), "JPEG", exif=exif)
    assert decode_image(data, "rotated.jpg").size == (20, 40)


@pytest.mark.parametrize(
    ("fmt", "mode"), [("GIF", "P"), ("WEBP", "RGBA"), ("JPEG", "CMYK"), ("PNG", "LA"), ("PNG", "I;16")]
)
def test_formats_and_modes_decode_to_rgb(fmt: str, mode: str) -> None:
    frames = [Image.new(mode, (12, 10)), Image.new(mode, (12, 10), 200 if mode != "RGBA" else (1, 2, 3, 4))]
    extra = {"save_all": True, "append_images": frames[1:]} if fmt == "GIF" else {}
    img = decode_image(_encode(frames[0], fmt, **extra), f"x.{fmt.lower()}")
    assert (img.mode, img.size) == ("RGB", (12, 10))


def test_huge_images_are_downscaled_on_decode() -> None:
    img = decode_image(_encode(Image.new("RGB", (5000, 100)), "PNG"), "wide.png")
    assert max(img.size) == 2048


@pytest.mark.parametrize(
    ("data", "reason", "detail"),
    [
        (b"", "empty", "a.png: zero-byte file"),
        (
            b"hello, not an image",
            "undecodable",
            "a.png: cannot decode image: cannot identify image file a.png",
        ),
        (
            png_header_only(40_000, 40_000),
            "too_large",
            "a.png: image too large: Image size (1600000000 pixels) exceeds limit",
        ),
    ],
)
def test_bad_files_fail_with_a_reason(data: bytes, reason: str, detail: str) -> None:
    with pytest.raises(DecodeFailure) as failure:
        decode_image(data, "a.png")
    assert failure.value.reason == reason and str(failure.value).startswith(detail)


class _FailingStore:
    location = "test:failing"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, name: str) -> bytes:
        raise self.error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ImageNotFound("image not found: 'a.png'"), "gone"),
        (ImageStoreUnavailable("HTTP 403 AuthorizationFailure"), "unreadable"),
    ],
)
def test_store_errors_become_skips(error: Exception, reason: str) -> None:
    result, _, _ = read_item(_FailingStore(error), WorkItem("id", "a.png", "e"), PREP)  # type: ignore[arg-type]
    assert not hasattr(result, "shape") and (result.reason, result.detail) == (reason, str(error))  # type: ignore[union-attr]


def test_workers_decode_every_item_once_in_spool_order(tmp_path: Path) -> None:
    names = [f"{i:03d}.png" for i in range(23)]
    for name in names:
        Image.new("RGB", (8, 8), (int(name[:3]), 0, 0)).save(tmp_path / name)
    (tmp_path / "bad.png").write_bytes(b"nope")
    spool = tmp_path / "spool.jsonl"
    spool.write_text("".join(WorkItem(f"id-{n}", n, "e").to_line() for n in [*names, "bad.png"]))
    batches = list(make_loader(spool, lambda: LocalFolderStore(tmp_path), PREP, batch_size=4, workers=2))
    decoded = sorted(item.name for batch in batches for item in batch.items)
    assert decoded == names
    assert [s.name for batch in batches for s in batch.skips] == ["bad.png"]
    assert all(batch.pixels.shape == (len(batch.items), 3, 16, 16) for batch in batches)
