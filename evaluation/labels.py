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

from core.space import normalize_rows
from core.tags import ImageTags
from core.text_encoder import OnnxSentenceEncoder
from indexing.stages import encode_groups
from training.data import ImageRecord, load_karpathy

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

    from indexing import loaders
    from training.caption import load_captioner
    from training.images import load_image

    captioner = load_captioner(checkpoint, "cpu")
    tagger = loaders.tagger(captioner.config.backbone)  # None: no ImageNet head, no labels-only baseline
    captions: dict[str, list[tuple[str, float]]] = {}
    chunks = []
    bar = tqdm(total=len(images), desc="caption + classify", unit="img")
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        pixels = torch.stack([captioner.preprocess(load_image(root / r.path)) for r in batch])  # (B, 3, S, S)
        features = captioner.encode(pixels)  # (B, P, E)
        if tagger is not None:
            chunks.append(tagger.probabilities(features))  # (B, 1000), as the indexer's tagger sees it
        results = captioner.caption_features(features, beam_size=beam_size, max_length=20)
        for record, result in zip(batch, results, strict=True):
            captions[record.image_id] = [(result.text, result.score), *result.alternatives]
        bar.update(len(batch))
    bar.close()
    return captions, np.concatenate(chunks) if chunks else None


def describe_split(
    checkpoint: Path, dataset: Path, split: str, encoder: OnnxSentenceEncoder, cache: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(caption embeddings (N, D), class probabilities (N, 1000), query embeddings (N, D)) of a split.

    Captions and classes from ``caption_and_classify`` (one backbone pass, cached in ``cache``);
    the captions are embedded as the indexer does: the top 5 beams' probability-weighted mean.
    """
    records = [r for r in load_karpathy(dataset) if r.split == split]
    beams, probabilities = caption_and_classify(checkpoint, records, dataset.parent, 5, cache)
    if probabilities is None:
        raise ValueError(f"{checkpoint}: its backbone has no ImageNet head: nothing to compare")
    top = [beams[r.image_id][:5] for r in records]
    captions = encode_groups(
        encoder, [[text for text, _ in b] for b in top], scores=[[score for _, score in b] for b in top]
    )
    queries = normalize_rows(encoder.encode([" ".join(r.captions[0]) for r in records]))
    return captions, probabilities, queries


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
