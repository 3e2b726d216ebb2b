"""The pictures side of the benchmark index: pooled backbone features for every row, real ones of real
pictures and synthesised ones around them, fed to build_version with the rows' caption embeddings.

A synthesised row is a real picture's features times log-normal noise per feature (sigma 0.5): still
non-negative like the backbone's ReLU output, and about 0.88 cosine to its source, like another drawing
of the same subject. So the index keeps the clusters real features have, which an HNSW index's recall
depends on, at any number of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from indexing.catalog import CatalogPage
    from indexing.versions import ImageRows
    from training.data import ImageRecord

DATASET = Path(".data/openclipart/dataset.json")
NOISE = 0.5  # sigma of the log-normal factor per feature

Features = Callable[[int, int], np.ndarray]  # (first row, rows) -> (rows, E) pooled features


def dataset_records(splits: Sequence[str], dataset: Path = DATASET) -> tuple[list[ImageRecord], Path]:
    """The records of ``splits`` in ``dataset`` (a Karpathy-style JSON) and the folder their paths are
    relative to; FileNotFoundError where the dataset is absent."""
    from training.data import load_karpathy

    if not dataset.is_file():
        raise FileNotFoundError(f"no dataset at {dataset}")
    return [r for r in load_karpathy(dataset) if r.split in splits], dataset.parent


def synthesised_features(real: np.ndarray, seed: int) -> Features:
    """Rows 0..R-1 are the (R, E) ``real`` features; each later row is a random real one times
    log-normal noise, drawn from ``seed`` and the first row asked for (so the same pages, as
    build_version reads them twice, get the same features)."""
    real = np.asarray(real, dtype=np.float32)

    def features(start: int, count: int) -> np.ndarray:
        out = np.empty((count, real.shape[1]), dtype=np.float32)  # (N, E)
        copied = max(0, min(count, len(real) - start))
        out[:copied] = real[start : start + copied]
        rng = np.random.default_rng((seed, start))
        sources = rng.integers(len(real), size=count - copied)
        noise = np.exp(NOISE * rng.standard_normal((count - copied, real.shape[1]), dtype=np.float32))
        out[copied:] = real[sources] * noise
        return out

    return features


class PictureRows:
    """An ImageRows whose pages carry each row's pooled features (CatalogPage.visual)."""

    def __init__(self, rows: ImageRows, features: Features) -> None:
        self._rows = rows
        self._features = features

    def count(self) -> int:
        return self._rows.count()

    def pages(self) -> Iterator[CatalogPage]:
        start = 0
        for page in self._rows.pages():
            yield replace(page, visual=self._features(start, len(page.image_ids)))
            start += len(page.image_ids)
