"""The reduced embedding space shared by indexing and search: pure numpy, no I/O.

Embeddings are projected with the bundle's PCA, then scaled to unit length, so cosine similarity in
the database equals the dot product here and K-means works on the sphere.
"""

from __future__ import annotations

import numpy as np


def project(embeddings: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(N, D) encoder vectors -> (N, d) unit vectors in the reduced space."""
    reduced = (np.asarray(embeddings, dtype=np.float32) - mean) @ components.T  # (N, d)
    return normalize_rows(reduced)


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def nearest_clusters(vectors: np.ndarray, centroids: np.ndarray, count: int = 1) -> np.ndarray:
    """Indices of the ``count`` centroids nearest (Euclidean, as K-means assigns) to each row: (N, count)."""
    vectors = np.atleast_2d(vectors)
    count = max(1, min(count, centroids.shape[0]))
    # ||v - c||^2 = ||v||^2 - 2 v.c + ||c||^2; the first term does not change the order.
    distances = (centroids * centroids).sum(axis=1)[None, :] - 2.0 * vectors @ centroids.T  # (N, C)
    if count == centroids.shape[0]:
        return np.argsort(distances, axis=1)
    nearest = np.argpartition(distances, count - 1, axis=1)[:, :count]
    order = np.take_along_axis(distances, nearest, axis=1).argsort(axis=1)
    return np.take_along_axis(nearest, order, axis=1)


def mean_embeddings(
    embeddings: np.ndarray, owners: np.ndarray, count: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """(M, D) unit vectors owned by ``owners`` (M,) in [0, count) -> (count, D) normalised means,
    weighted by ``weights`` (M,) where given."""
    weighted = embeddings if weights is None else embeddings * np.asarray(weights, dtype=np.float64)[:, None]
    sums = np.zeros((count, embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, owners, weighted)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def beam_weights(scores: np.ndarray) -> np.ndarray:
    """One image's beam captions, scored by length-normalised log-probability (K,) -> weights (K,)
    summing to 1: their softmax, so each caption counts as much as the captioner believes it."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("no caption scores to weight")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"caption scores must be finite log-probabilities, got {scores.tolist()}")
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()
