"""The held-out images and the captions a checkpoint generates for them, cached between runs."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from evaluation.queries import caption_texts
from training.data import ImageRecord
from training.vocab import UNK

log = logging.getLogger(__name__)


def select_images(records: Sequence[ImageRecord], split: str, limit: int | None) -> list[ImageRecord]:
    """The split's captioned images in id order; ``limit`` keeps a fixed, evenly spread subset."""
    chosen = sorted((r for r in records if r.split == split and caption_texts(r)), key=lambda r: r.image_id)
    if limit and limit < len(chosen):
        step = len(chosen) / limit
        chosen = [chosen[int(i * step)] for i in range(limit)]
    return chosen


def generate_captions(
    checkpoint: Path, images: Sequence[ImageRecord], root: Path, beam_size: int, cache: Path
) -> dict[str, list[tuple[str, float]]]:
    """Image id -> beam captions, best first; cached in ``cache`` by checkpoint, beam and image list."""
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    key = (
        f"{digest}:{beam_size}:" + hashlib.sha256("\n".join(r.image_id for r in images).encode()).hexdigest()
    )
    if cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            log.info("captions from %s", cache)
            return {k: [(t, s) for t, s in v] for k, v in stored["captions"].items()}
    from evaluation.beams import caption_candidates
    from training.caption import load_captioner

    captioner = load_captioner(checkpoint, "cpu")
    found = caption_candidates(captioner, [root / r.path for r in images], beam_size=beam_size)
    captions = {r.image_id: c for r, c in zip(images, found, strict=True)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "checkpoint": str(checkpoint), "captions": captions}), "utf-8")
    return captions


def drop_unknown(captions: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """(text, score) captions without the captioner's ``<unk>`` word (meaningless to the encoder),
    deduplicated keeping the best score."""
    kept: dict[str, float] = {}
    for text, score in captions:
        cleaned = " ".join(w for w in text.split() if w != UNK)
        if cleaned and cleaned not in kept:
            kept[cleaned] = score
    return list(kept.items()) or [(UNK, 0.0)]
