"""A query picture read as the indexer reads an image: decoded with limits, run through the bundle's
picture encoder (the captioner's backbone and ImageNet head in ONNX): its pooled features and its tags.

docs/picture_search.md: the pooled features, reduced by the bundle's visual PCA, are ranked by cosine
against images.visual (the visual route, service.py); a bundle without a visual PCA falls back to the
tags sentence, embedded by the text encoder and ranked by cosine alone (no full-text blend, no answer
gate: a picture is never nonsense).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    pooled: np.ndarray  # (E,) the backbone's feature grid averaged: the visual route's input
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
    """The uploaded picture's pooled features and tags sentence; PictureError for a body that is not a
    usable picture, ServiceUnavailable when the bundle cannot read pictures."""
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
    encoded = encoder.encode(img)
    finished = time.perf_counter()
    return ReadPicture(
        ", ".join(word for word, _ in encoded.tags),
        encoded.tags,
        encoded.pooled,
        {
            "decode": round((decoded - started) * 1000, 2),
            "picture": round((finished - decoded) * 1000, 2),
        },
    )
