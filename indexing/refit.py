"""Fit a new search space on the catalog, write every row of a new bundle version, then publish it.

The catalog holds the full caption embeddings, so nothing is captioned again. Rows of the new version
are all written before its bundle is activated; search keeps reading the old version until then. A
refit killed half-way leaves an inactive version behind, which ``prune`` removes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from core.bundle import new_version_name
from core.text_encoder import CONFIG_FILE
from core.vector_index import DEFAULT_VECTOR_INDEX, create_vector_index
from indexing import catalog, store
from indexing.fit import MAX_FIT_SAMPLE, FittedSpace, fit_space
from indexing.publish import publish_space
from indexing.report import RunSummary, progress
from indexing.session import Database, IndexingError
from indexing.stages import assign

log = logging.getLogger(__name__)
PAGE_ROWS = 20_000


@dataclass(frozen=True)
class FitOptions:
    pca_dim: int | None = None  # default from the corpus size (fit.default_pca_dim)
    clusters: int | None = None  # default from the corpus size (fit.default_cluster_count)
    seed: int = 0
    sample_limit: int = MAX_FIT_SAMPLE
    show_progress: bool = True
    vector_index: str | None = DEFAULT_VECTOR_INDEX  # pgvector ANN index built before activation; None: none


def encoder_id(encoder_dir: Path) -> str:
    import json

    return str(json.loads((encoder_dir / CONFIG_FILE).read_text(encoding="utf-8"))["id"])


def fit_catalog(db: Database, options: FitOptions, summary: RunSummary) -> FittedSpace:
    """Fit PCA + K-means on the catalog embeddings (every n-th row in id order beyond the sample limit)."""
    total = db.run("counting the catalog", lambda conn: catalog.count_catalog(conn))
    if total < 2:
        raise IndexingError(f"cannot fit a search space on {total} captioned image(s); index at least 2")
    stride = max(1, math.ceil(total / options.sample_limit))
    chunks: list[np.ndarray] = []
    seen = 0
    bar = progress(total, "fit: read sample", enabled=options.show_progress)
    with summary.timed("fit"):
        for page in _pages(db):
            keep = (np.arange(seen, seen + len(page.image_ids)) % stride) == 0
            chunks.append(page.embeddings[keep])
            seen += len(page.image_ids)
            bar.update(len(page.image_ids))
        bar.close()
        sample = np.concatenate(chunks)  # (S, D)
        log.info("fitting PCA and K-means on %d of %d embeddings", len(sample), total)
        return fit_space(
            sample, pca_dim=options.pca_dim, clusters=options.clusters, seed=options.seed, corpus_rows=total
        )


def _pages(db: Database) -> _PageIterator:
    return _PageIterator(db)


class _PageIterator:
    """Catalog pages in image_id order, each read in its own retried transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._after = ""

    def __iter__(self) -> _PageIterator:
        return self

    def __next__(self) -> catalog.CatalogPage:
        after = self._after
        page = self._db.run("reading the catalog", lambda conn: catalog.read_page(conn, after, PAGE_ROWS))
        if not page.image_ids:
            raise StopIteration
        self._after = page.image_ids[-1]
        return page


def write_version(
    db: Database,
    space: FittedSpace,
    version: str,
    summary: RunSummary,
    show: bool,
    vector_index: str | None = DEFAULT_VECTOR_INDEX,
) -> int:
    """Store every catalog image under ``version`` with its cluster, then the centroids; returns rows."""
    total = db.run("counting the catalog", lambda conn: catalog.count_catalog(conn))
    bar = progress(total, f"store {version}", enabled=show)
    written = 0
    for page in _pages(db):
        with summary.timed("assign"):
            reduced, cluster_ids = assign(
                page.embeddings, space.pca_mean, space.pca_components, space.centroids
            )
        batch = store.RowBatch(
            version,
            page.image_ids,
            page.names,
            page.captions,
            reduced,
            cluster_ids,
            page.captioners,
            page.alternatives,
        )
        with summary.timed("store"):
            written += db.run("storing rows", partial(store.insert_new_rows, batch=batch))
        bar.update(len(batch))
    bar.close()
    with summary.timed("store"):
        db.run("storing clusters", lambda conn: store.replace_clusters(conn, version, space.centroids))
    if vector_index:
        dim, lists = space.pca_components.shape[0], space.centroids.shape[0]
        with summary.timed("vector index"):
            db.run(
                f"building the {vector_index} index",
                lambda conn: create_vector_index(conn, version, dim, vector_index, lists=lists),
            )
    return written


def refit(db: Database, share: Path, encoder_dir: Path, options: FitOptions, summary: RunSummary) -> str:
    """Fit, store a complete new version, publish and activate its bundle; returns the version."""
    encoders = db.run("reading encoders", catalog.catalog_encoders)
    wanted = encoder_id(encoder_dir)
    if encoders != [wanted]:
        raise IndexingError(
            f"the catalog holds embeddings of {', '.join(encoders) or 'no encoder'}; "
            f"the encoder folder {encoder_dir} is {wanted}"
        )
    space = fit_catalog(db, options, summary)
    version = new_version_name()
    rows = write_version(db, space, version, summary, options.show_progress, options.vector_index)
    with summary.timed("publish"):
        publish_space(share, encoder_dir, space, version, rows=rows)
    summary.bundle_version = version
    summary.refitted = True
    return version
