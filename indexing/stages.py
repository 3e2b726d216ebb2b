"""The pure stages between decoding and storage: caption, tag, encode, assign. Data in, data out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from core.space import beam_weights, mean_embeddings, nearest_clusters, project

if TYPE_CHECKING:
    import torch

    from training.caption import Captioner


class SentenceEncoder(Protocol):
    dim: int

    def encode(self, sentences: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


@dataclass(frozen=True)
class Captions:
    texts: list[str]
    scores: np.ndarray  # (B,) length-normalised log-probabilities
    alternatives: list[list[str]]  # per image, the beam's other distinct captions, best first
    alternative_scores: list[list[float]]  # their length-normalised log-probabilities

    def all_texts(self, index: int) -> list[str]:
        return [self.texts[index], *self.alternatives[index]]

    def all_scores(self, index: int) -> list[float]:
        return [float(self.scores[index]), *self.alternative_scores[index]]


def caption(
    captioner: Captioner, features: torch.Tensor, beam_size: int, max_length: int, per_image: int = 1
) -> Captions:
    """Captions for the backbone's feature grids (B, P, E) (``captioner.encode``), one batched beam
    search; up to ``per_image`` each."""
    if len(features) == 0:
        return Captions([], np.zeros(0, dtype=np.float32), [], [])
    results = captioner.caption_features(features, beam_size=beam_size, max_length=max_length)
    others = [r.alternatives[: per_image - 1] for r in results]
    return Captions(
        [r.text for r in results],
        np.array([r.score for r in results], dtype=np.float32),
        [[text for text, _ in found] for found in others],
        [[score for _, score in found] for found in others],
    )


def encode(encoder: SentenceEncoder, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """(N, D) unit-length caption embeddings."""
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.asarray(encoder.encode(list(texts), batch_size=batch_size), dtype=np.float32)


def encode_images(encoder: SentenceEncoder, captions: Captions, batch_size: int = 64) -> np.ndarray:
    """(B, D) one unit vector per captioned image (see ``encode_groups``)."""
    images = range(len(captions.texts))
    return encode_groups(
        encoder,
        [captions.all_texts(i) for i in images],
        batch_size,
        scores=[captions.all_scores(i) for i in images],
    )


def encode_groups(
    encoder: SentenceEncoder,
    groups: Sequence[Sequence[str]],
    batch_size: int = 64,
    *,
    scores: Sequence[Sequence[float]] | None = None,
) -> np.ndarray:
    """(N, D) one unit vector per group of captions: the normalised mean of their embeddings, weighted
    by ``beam_weights`` of the captions' log-probability ``scores`` where given, else equally.

    docs/quality.md: the mean of the top-5 beam captions finds the right image about as often as keeping
    one row per caption and ranking by the best of them, with a fifth of the rows; weighting it by the
    captioner's probabilities finds it more often still (chosen on the validation split).
    """
    sizes = [len(group) for group in groups]
    flat = encode(encoder, [text for group in groups for text in group], batch_size)  # (M, D)
    owners = np.repeat(np.arange(len(groups)), sizes)  # (M,)
    if scores is None:
        return mean_embeddings(flat, owners, len(groups))
    if [len(s) for s in scores] != sizes:
        raise ValueError("need one score per caption of every group")
    weights = np.concatenate([beam_weights(np.asarray(s)) for s in scores]) if sizes else None  # (M,)
    return mean_embeddings(flat, owners, len(groups), weights)


def tags_sentence(tags: Sequence[tuple[str, float]]) -> str:
    """How an image's tags read to the text encoder: "tabby, cat, feline", names before generic words."""
    return ", ".join(word for word, _ in tags)


def mix_tags(
    caption_embeddings: np.ndarray,
    encoder: SentenceEncoder,
    tags: Sequence[Sequence[tuple[str, float]]],
    weight: float,
    batch_size: int = 64,
) -> np.ndarray:
    """(N, D) unit vectors: ``weight`` x the embedding of each image's tags read as one sentence plus
    ``1 - weight`` x its captions' embedding (N, D), renormalised. Images without tags keep their
    captions' embedding; weight 0 leaves every image's as it is."""
    mixed = np.asarray(caption_embeddings, dtype=np.float32).copy()
    tagged = [i for i, image_tags in enumerate(tags) if image_tags]
    if weight <= 0 or not tagged:
        return mixed
    sentences = encode(encoder, [tags_sentence(tags[i]) for i in tagged], batch_size)  # (T, D)
    blend = weight * sentences + (1 - weight) * mixed[tagged]
    mixed[tagged] = blend / np.maximum(np.linalg.norm(blend, axis=1, keepdims=True), 1e-12)
    return mixed


def assign(
    embeddings: np.ndarray, pca_mean: np.ndarray, pca_components: np.ndarray, centroids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Project (N, D) embeddings into a bundle's space: (N, d) unit vectors and (N,) nearest cluster ids."""
    reduced = project(embeddings, pca_mean, pca_components)  # (N, d)
    if len(reduced) == 0:
        return reduced, np.zeros(0, dtype=np.int32)
    return reduced, nearest_clusters(reduced, centroids, 1)[:, 0].astype(np.int32)
