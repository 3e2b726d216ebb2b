"""The cost of PCA itself: recall@10 of exact search in the reduced space against the full encoder space."""

from __future__ import annotations

import numpy as np


def pca_cost(full: np.ndarray, queries: np.ndarray, rows: int) -> list[dict[str, float]]:
    """recall@10 of exact search in a PCA space of each size against exact search in the full space:
    the service's uncentered PCA, and beside it a centered PCA (the service's before session 3)."""
    from sklearn.decomposition import PCA

    from core.space import project
    from indexing.fit import fit_space

    subset = full[: min(rows, 200_000)]
    truth = np.argsort(-(queries @ subset.T), axis=1)[:, :10]

    def recall_in(mean: np.ndarray, components: np.ndarray) -> float:
        found = np.argsort(
            -(project(queries, mean, components) @ project(subset, mean, components).T), axis=1
        )
        return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found[:, :10], truth, strict=True)]))

    out = []
    for dim in (32, 64, 96, 128, 192, 256):
        space = fit_space(subset[:50_000], pca_dim=dim, clusters=1)
        centered = PCA(n_components=dim, svd_solver="randomized", random_state=0).fit(subset[:50_000])
        out.append(
            {
                "pca_dim": dim,
                "recall@10": recall_in(space.pca_mean, space.pca_components),
                "explained_variance": space.explained_variance,
                "centered_recall@10": recall_in(centered.mean_, centered.components_),
            }
        )
    return out
