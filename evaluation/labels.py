"""Captions and ImageNet class probabilities of the held-out images from one backbone pass, cached.

The labels-only baseline describes each image by the names of its top-5 ImageNet classes from the
captioner's own backbone and classifier head (EfficientNet-Lite0), so it needs no training at all; the
captions are what the indexer would store (the top beams with their scores).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.tags import ImageTags
from training.data import ImageRecord

log = logging.getLogger(__name__)
LABEL_CLASSES = 5  # the class names that make an image's label text
CAPTIONS_FILE = "captions.json"
CLASSES_FILE = "classes.npy"


def caption_and_classify(
    checkpoint: Path, images: Sequence[ImageRecord], root: Path, beam_size: int, cache: Path
) -> tuple[dict[str, list[tuple[str, float]]], np.ndarray | None]:
    """(image id -> beam captions (text, score), best first; (N, 1000) class probabilities in image
    order, None when the backbone has no ImageNet classifier).

    Cached in the folder ``cache`` by checkpoint, beam size and image list.
    """
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    ids = hashlib.sha256("\n".join(r.image_id for r in images).encode()).hexdigest()
    key = f"{digest}:{beam_size}:{ids}"
    captions_path, classes_path = cache / CAPTIONS_FILE, cache / CLASSES_FILE
    if captions_path.is_file():
        stored = json.loads(captions_path.read_text(encoding="utf-8"))
        classified = bool(stored.get("classes", True))
        if stored.get("key") == key and (not classified or classes_path.is_file()):
            log.info("captions and classes from %s", cache)
            captions = {k: [(t, s) for t, s in v] for k, v in stored["captions"].items()}
            return captions, np.load(classes_path, allow_pickle=False) if classified else None
    captions, probabilities = _run(checkpoint, images, root, beam_size)
    cache.mkdir(parents=True, exist_ok=True)
    if probabilities is not None:
        np.save(classes_path, probabilities.astype(np.float32))
    stored = {
        "key": key,
        "checkpoint": str(checkpoint),
        "captions": captions,
        "classes": probabilities is not None,
    }
    captions_path.write_text(json.dumps(stored), encoding="utf-8")
    return captions, probabilities


def _run(
    checkpoint: Path, images: Sequence[ImageRecord], root: Path, beam_size: int, batch_size: int = 32
) -> tuple[dict[str, list[tuple[str, float]]], np.ndarray | None]:
    import torch
    from tqdm import tqdm

    from indexing.tagging.tags import softmax
    from training.backbones import imagenet_head
    from training.caption import load_captioner
    from training.images import load_image

    captioner = load_captioner(checkpoint, "cpu")
    try:
        head = imagenet_head(captioner.config.backbone)
    except ValueError as exc:
        log.info("no labels-only baseline: %s", exc)
        head = None
    captions: dict[str, list[tuple[str, float]]] = {}
    chunks = []
    bar = tqdm(total=len(images), desc="caption + classify", unit="img")
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        pixels = torch.stack([captioner.preprocess(load_image(root / r.path)) for r in batch])  # (B, 3, S, S)
        features = captioner.encode(pixels)  # (B, P, E)
        if head is not None:
            with torch.no_grad():
                chunks.append(softmax(head(features.mean(dim=1)).numpy()))  # (B, 1000)
        results = captioner.caption_features(features, beam_size=beam_size, max_length=20)
        for record, result in zip(batch, results, strict=True):
            captions[record.image_id] = [(result.text, result.score), *result.alternatives]
        bar.update(len(batch))
    bar.close()
    return captions, np.concatenate(chunks) if chunks else None


def image_tags(probabilities: np.ndarray, image_ids: Sequence[str]) -> dict[str, ImageTags]:
    """Image id -> its tags as the indexer makes them (indexing/tagging/, default options)."""
    from indexing.tagging.tagger import DEFAULT_TAG_OPTIONS
    from indexing.tagging.tags import image_tags as tags_of
    from indexing.tagging.vocabulary import load_vocabulary

    found = tags_of(probabilities, load_vocabulary(), DEFAULT_TAG_OPTIONS)
    return {
        image_id: tuple((tag.text, tag.confidence) for tag in tags)
        for image_id, tags in zip(image_ids, found, strict=True)
    }


def label_texts(probabilities: np.ndarray, image_ids: Sequence[str]) -> dict[str, list[str]]:
    """Image id -> one caption: the names of its top LABEL_CLASSES classes, most probable first."""
    from indexing.tagging.vocabulary import load_vocabulary

    vocabulary = load_vocabulary()
    top = np.argsort(-probabilities, axis=1)[:, :LABEL_CLASSES]  # (N, 5)
    return {
        image_id: [", ".join(vocabulary[j].names[0] for j in classes)]
        for image_id, classes in zip(image_ids, top, strict=True)
    }
