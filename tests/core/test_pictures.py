"""Uploaded pictures: what decode_upload accepts, and the exact refusal for everything else."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.pictures import MAX_SIDE, PictureError, decode_upload, square_pixels


def encoded(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds almost no data: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


PHOTO = Image.new("RGB", (64, 48), (200, 30, 30))
PNG = encoded(PHOTO, "PNG")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "the picture is empty: send the image's bytes as the request body"),
        (b"hello, world", 400, "the body is not a picture: send a PNG, JPEG, GIF, WebP or BMP image"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
            415,
            "SVG pictures are not accepted: send a PNG, JPEG, GIF, WebP or BMP image",
        ),
        (
            b"  <svg width='10'></svg>",
            415,
            "SVG pictures are not accepted: send a PNG, JPEG, GIF, WebP or BMP image",
        ),
        (
            encoded(PHOTO, "TIFF"),
            400,
            "the body is not a picture: send a PNG, JPEG, GIF, WebP or BMP image",
        ),
        (
            png_header_only(8_000, 8_000),
            413,
            "the picture has too many pixels: 8000x8000; the limit is 50,000,000",
        ),
        (
            png_header_only(200_000, 200_000),
            413,
            "the picture has too many pixels; the limit is 50,000,000",
        ),
    ],
    ids=["empty", "text", "svg-xml", "svg", "tiff", "bomb", "huge-bomb"],
)
def test_refusals_say_what_is_wrong(body: bytes, status: int, message: str) -> None:
    with pytest.raises(PictureError) as caught:
        decode_upload(body)
    assert (caught.value.status, str(caught.value)) == (status, message)


def test_a_truncated_picture_is_refused() -> None:
    whole = encoded(Image.effect_noise((256, 256), 60).convert("RGB"), "JPEG", quality=90)
    with pytest.raises(PictureError) as caught:
        decode_upload(whole[: len(whole) // 2])
    assert caught.value.status == 400
    assert str(caught.value).startswith("the picture is truncated or corrupt: ")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_each_accepted_format_decodes_to_rgb(fmt: str) -> None:
    img = decode_upload(encoded(PHOTO, fmt))
    assert (img.mode, img.size) == ("RGB", (64, 48))


def test_transparency_is_composited_on_white_and_large_pictures_shrink() -> None:
    clear = decode_upload(encoded(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG"))
    assert clear.getpixel((0, 0)) == (255, 255, 255)
    big = decode_upload(encoded(Image.new("RGB", (4000, 1000)), "PNG"))
    assert big.size == (MAX_SIDE, MAX_SIDE // 4)


def test_square_pixels_normalises_to_the_backbones_input() -> None:
    pixels = square_pixels(Image.new("RGB", (30, 10), (255, 0, 127)), 16, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert pixels.shape == (3, 16, 16) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[:, 0, 0], [1.0, -1.0, 127 / 127.5 - 1.0], atol=1e-6)
