"""Fit the PCA and K-means of a search bundle (scikit-learn), with sizes chosen from the corpus.

The PCA is uncentered (a truncated SVD of the embeddings themselves, not of their deviations from the
corpus mean). Search ranks by cosine in the reduced space, and the projection should keep the original
cosine's order: after centering, the dot product of a query with a row loses the row's own similarity
to the corpus mean, which re-orders rows however many dimensions are kept. On the openclipart splits
the centered PCA cost up to 3.6 points of Recall@10 against exact search; this costs up to 1.5
(docs/quality.md). The bundle keeps its ``pca_mean`` field, zero here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.space import normalize_rows

DEFAULT_PCA_DIM = 128
MAX_FIT_SAMPLE = 200_000
MINIBATCH_THRESHOLD = 20_000


@dataclass(frozen=True)
class FittedSpace:
    pca_mean: np.ndarray  # (D,) subtracted before projecting: zero for the uncentered PCA
    pca_components: np.ndarray  # (d, D) orthonormal rows
    centroids: np.ndarray  # (C, d), means of unit rows, so not unit length (norm <= 1): compare by distance
    explained_variance: float  # share of the embeddings' squared norm that the d components keep
    visual_components: np.ndarray | None = None  # (v, E) the visual PCA (fit_visual); None: no features


def default_pca_dim(rows: int, input_dim: int) -> int:
    """128 dimensions, fewer for tiny corpora (PCA cannot have more components than samples)."""
    return max(2, min(DEFAULT_PCA_DIM, input_dim, rows - 1))


def default_cluster_count(rows: int) -> int:
    """About sqrt(N) clusters (the usual inverted-file rule), at least 1, and never under 8 rows a cluster."""
    if rows < 16:
        return 1
    return max(1, min(round(math.sqrt(rows)), rows // 8))


def fit_space(
    embeddings: np.ndarray,
    *,
    pca_dim: int | None = None,
    clusters: int | None = None,
    seed: int = 0,
    corpus_rows: int | None = None,
) -> FittedSpace:
    """Fit an uncentered PCA on (a sample of) the embeddings, then K-means on the reduced unit vectors.

    ``corpus_rows`` is the size of the whole corpus when ``embeddings`` is already a sample of it; the
    default number of clusters follows the corpus, not the sample.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.decomposition import TruncatedSVD

    data = np.asarray(embeddings, dtype=np.float32)
    if data.ndim != 2 or data.shape[0] < 2:
        raise ValueError(f"need at least 2 embeddings to fit a search space, got shape {data.shape}")
    rows, input_dim = data.shape
    rng = np.random.default_rng(seed)
    sample = data if rows <= MAX_FIT_SAMPLE else data[rng.choice(rows, MAX_FIT_SAMPLE, replace=False)]

    dim = pca_dim or default_pca_dim(sample.shape[0], input_dim)
    if not 1 <= dim <= min(input_dim, sample.shape[0]):
        raise ValueError(f"pca_dim must be between 1 and {min(input_dim, sample.shape[0])}, got {dim}")
    svd = TruncatedSVD(n_components=dim, algorithm="randomized", n_iter=7, random_state=seed)
    reduced = normalize_rows(svd.fit_transform(sample))  # (S, d)
    kept = float(
        (svd.singular_values_.astype(np.float64) ** 2).sum() / (sample.astype(np.float64) ** 2).sum()
    )

    count = clusters or default_cluster_count(max(rows, corpus_rows or 0))
    if not 1 <= count <= sample.shape[0]:
        raise ValueError(f"clusters must be between 1 and {sample.shape[0]}, got {count}")
    if sample.shape[0] > MINIBATCH_THRESHOLD:
        kmeans: KMeans | MiniBatchKMeans = MiniBatchKMeans(
            n_clusters=count, batch_size=4096, n_init=3, random_state=seed
        )
    else:
        kmeans = KMeans(n_clusters=count, n_init=1, random_state=seed)
    kmeans.fit(reduced)
    return FittedSpace(
        pca_mean=np.zeros(input_dim, dtype=np.float32),
        pca_components=svd.components_.astype(np.float32),
        centroids=kmeans.cluster_centers_.astype(np.float32),
        explained_variance=min(kept, 1.0),
    )


DEFAULT_VISUAL_DIM = 64  # best on openclipart val of 64/128/256 (docs/picture_search.md)
MAX_VISUAL_SAMPLE = 20_000  # rows of 1280 features: 100 MB, and the (E, E) Gram matrix in seconds


def fit_visual(features: np.ndarray, *, dim: int = DEFAULT_VISUAL_DIM) -> np.ndarray | None:
    """(v, E) orthonormal rows: an uncentered PCA of the pooled backbone features (N, E), as measured
    (evaluation/picture_queries.py); fewer rows than 2 give None (the bundle then has no visual space)."""
    data = np.asarray(features, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 2:
        return None
    kept = max(1, min(dim, data.shape[1], data.shape[0] - 1))
    # The right singular vectors of the data are the eigenvectors of its (E, E) Gram matrix: no (N, E) SVD.
    _, vectors = np.linalg.eigh(data.T @ data)  # eigenvalues ascending
    return vectors[:, ::-1][:, :kept].T.astype(np.float32)
