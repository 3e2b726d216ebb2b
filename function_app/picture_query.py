"""A query picture read as the indexer reads an image: decoded with limits, run through the bundle's
picture encoder (the captioner's backbone and ImageNet head in ONNX), and said as its tags sentence.

docs/picture_search.md: the sentence is embedded by the bundle's text encoder and ranked by cosine
alone (no full-text blend, no answer gate: a picture is never nonsense), which is what was measured.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

from core.bundle import SearchBundle
from core.picture_encoder import OnnxPictureEncoder, PictureEncoderError
from core.pictures import UPLOAD_TYPES, PictureError, decode_upload
from core.tags import ImageTags
from function_app.errors import ServiceUnavailable
from function_app.ranking import RankingOptions

PICTURE_RANKING = RankingOptions(text_weight=0.0, min_similarity=None, answer_similarity=None)
MAX_PICTURE_BYTES = 8 * 1024 * 1024
_TYPES = ", ".join(UPLOAD_TYPES)


@dataclass(frozen=True)
class ReadPicture:
    sentence: str  # the tags as the text encoder reads them: "tabby, cat, feline"
    tags: ImageTags
    timing_ms: dict[str, float]  # decode, picture (the backbone and head)


@functools.lru_cache(maxsize=2)
def picture_encoder(folder: Path) -> OnnxPictureEncoder:
    """The encoder of one bundle version's picture folder, loaded on its first picture query."""
    return OnnxPictureEncoder(folder)


def check_content_type(header: str | None) -> None:
    """PictureError (415) unless the body is declared as one of the accepted image types."""
    media = (header or "").split(";", 1)[0].strip().lower()
    if media == "image/svg+xml":
        raise PictureError(415, "SVG pictures are not accepted: send a PNG, JPEG, GIF, WebP or BMP image")
    if media not in UPLOAD_TYPES:
        shown = f"{media!r}" if media else "none"
        raise PictureError(
            415, f"send the picture as the request body with an image Content-Type ({_TYPES}); got {shown}"
        )


def read_picture(bundle: SearchBundle, data: bytes) -> ReadPicture:
    """The uploaded picture's tags sentence; PictureError for a body that is not a usable picture,
    ServiceUnavailable when the bundle cannot read pictures."""
    if bundle.picture_dir is None:
        raise ServiceUnavailable(
            f"search by picture is not available: bundle {bundle.version} was published without a "
            "picture encoder (index or refit again with CAPTIONER_CHECKPOINT set)"
        )
    started = time.perf_counter()
    img = decode_upload(data)
    decoded = time.perf_counter()
    try:
        encoder = picture_encoder(bundle.picture_dir)
    except PictureEncoderError as exc:
        raise ServiceUnavailable(f"search by picture is not available: {exc}") from exc
    tags = encoder.encode(img).tags
    finished = time.perf_counter()
    return ReadPicture(
        ", ".join(word for word, _ in tags),
        tags,
        {
            "decode": round((decoded - started) * 1000, 2),
            "picture": round((finished - decoded) * 1000, 2),
        },
    )
