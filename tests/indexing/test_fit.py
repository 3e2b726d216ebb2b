from __future__ import annotations

import numpy as np
import pytest

from core.space import normalize_rows, project
from indexing.fit import default_cluster_count, default_pca_dim, fit_space


def sentence_like(rows: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors sharing a strong common direction, as sentence embeddings do."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=dim)
    return normalize_rows(3 * common / np.linalg.norm(common) + rng.normal(size=(rows, dim)) / np.sqrt(dim))


def test_keeping_every_dimension_keeps_every_cosine() -> None:
    rows, queries = sentence_like(300, 12, seed=0), sentence_like(20, 12, seed=1)
    space = fit_space(rows, pca_dim=12, clusters=4)
    reduced_rows = project(rows, space.pca_mean, space.pca_components)
    reduced_queries = project(queries, space.pca_mean, space.pca_components)
    # A centered PCA would subtract the corpus mean and change these, even at full dimension.
    np.testing.assert_allclose(reduced_queries @ reduced_rows.T, queries @ rows.T, atol=1e-5)
    assert not space.pca_mean.any()
    assert space.explained_variance == pytest.approx(1.0, abs=1e-5)


def test_reduced_space_keeps_most_of_the_norm_with_orthonormal_components() -> None:
    rows = sentence_like(500, 32, seed=2)
    space = fit_space(rows, pca_dim=8, clusters=5)
    components = space.pca_components  # (8, 32)
    np.testing.assert_allclose(components @ components.T, np.eye(8), atol=1e-5)
    reduced = project(rows, space.pca_mean, space.pca_components)
    kept = float((np.linalg.norm(rows @ components.T, axis=1) ** 2).mean())  # rows are unit vectors
    assert space.explained_variance == pytest.approx(kept, rel=1e-4)
    assert 0.8 < space.explained_variance < 1.0  # the common direction carries most of it
    assert space.centroids.shape == (5, 8)
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), 1.0, rtol=1e-5)


def test_sizes_follow_the_corpus_and_bad_sizes_are_refused() -> None:
    assert default_pca_dim(rows=10_000, input_dim=384) == 128
    assert default_pca_dim(rows=20, input_dim=384) == 19
    assert default_cluster_count(100_000) == 316 and default_cluster_count(10) == 1
    rows = sentence_like(40, 6, seed=3)
    with pytest.raises(ValueError, match="pca_dim must be between 1 and 6"):
        fit_space(rows, pca_dim=7)
    with pytest.raises(ValueError, match="clusters must be between 1 and 40"):
        fit_space(rows, clusters=41)
    with pytest.raises(ValueError, match="need at least 2 embeddings"):
        fit_space(rows[:1])
