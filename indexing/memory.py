"""``Writer`` in memory: the semantics of ``write.PostgresWriter`` kept in dictionaries.

For tests of the whole pipeline without a database, and for anything that wants to run a stage alone.
Rows are keyed like the tables (catalog by image id, index rows by version and image id), writes
replace what they key, and a failed batch leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from core.vector_index import DEFAULT_STORAGE, METHODS, VISUAL_METHOD, VectorStorage, vector_storage
from indexing.catalog import CatalogBatch, CatalogPage, Skip, stack_visual
from indexing.store import RowBatch


@dataclass(frozen=True)
class CatalogEntry:
    location: str
    name: str
    etag: str
    caption: str
    alternatives: str
    score: float
    captioner: str
    encoder: str
    embedding: np.ndarray  # (D,)
    tags: str = "[]"  # stored JSON (core/tags.py)
    taken: datetime | None = None  # when the picture was taken (indexing/taken.py)
    taken_from: str = ""
    text_in_picture: str = ""  # the words OCR read in it (indexing/ocr.py)
    visual: np.ndarray | None = None  # (E,) pooled backbone features; None: none


@dataclass(frozen=True)
class IndexEntry:
    name: str
    caption: str
    alternatives: str
    embedding: np.ndarray  # (d,)
    cluster_id: int
    captioner: str
    tags: str = "[]"
    taken: datetime | None = None
    taken_from: str = ""
    text_in_picture: str = ""
    visual: np.ndarray | None = None  # (v,) in the bundle's visual space; None: none


@dataclass
class MemoryWriter:
    catalog: dict[str, CatalogEntry] = field(default_factory=dict)  # image_id ->
    skipped: dict[str, tuple[str, Skip]] = field(default_factory=dict)  # image_id -> (location, skip)
    listing: set[tuple[str, str]] = field(default_factory=set)  # (run_id, image_id)
    rows: dict[str, dict[str, IndexEntry]] = field(default_factory=dict)  # version -> image_id ->
    centroids: dict[str, np.ndarray] = field(default_factory=dict)  # version -> (K, d)
    cluster_sizes: dict[str, list[int]] = field(default_factory=dict)  # version -> size per cluster
    vector_indexes: set[tuple[str, str]] = field(default_factory=set)  # (version, method)
    vector_storage: dict[str, VectorStorage] = field(default_factory=dict)  # version -> its text index's
    retries: int = 0

    def clear_listings(self) -> None:
        self.listing.clear()

    def record_listing(self, run_id: str, image_ids: Sequence[str]) -> tuple[set[str], dict[str, str]]:
        self.listing.update((run_id, image_id) for image_id in image_ids)
        done = {i for i in image_ids if i in self.catalog}
        failed = {i: self.skipped[i][1].reason for i in image_ids if i in self.skipped}
        return done, failed

    def delete_unlisted(self, location: str, run_id: str) -> int:
        def gone(image_id: str, at: str) -> bool:
            return at == location and (run_id, image_id) not in self.listing

        removed = [i for i, entry in self.catalog.items() if gone(i, entry.location)]
        for rows in self.rows.values():
            for image_id in removed:
                rows.pop(image_id, None)
        for image_id in removed:
            del self.catalog[image_id]
        for image_id in [i for i, (at, _) in self.skipped.items() if gone(i, at)]:
            del self.skipped[image_id]
        return len(removed)

    def store_batch(self, rows: CatalogBatch, skips: Sequence[Skip], index_rows: RowBatch | None) -> None:
        for i, image_id in enumerate(rows.image_ids):
            self.catalog[image_id] = CatalogEntry(
                rows.location,
                rows.names[i],
                rows.etags[i],
                rows.captions[i],
                rows.alternatives[i],
                float(rows.scores[i]),
                rows.captioner,
                rows.encoder,
                np.asarray(rows.embeddings[i], dtype=np.float32),
                rows.tags[i] if rows.tags is not None else "[]",
                rows.taken[i] if rows.taken else None,
                rows.taken_from[i] if rows.taken_from else "",
                rows.text_in_picture[i] if rows.text_in_picture is not None else "",
                _row(rows.visual, i),
            )
        for skip in skips:
            self.skipped[skip.image_id] = (rows.location, skip)
        if index_rows is not None:
            self._put_rows(index_rows)

    def has_version(self, version: str) -> bool:
        return version in self.centroids

    def refresh_cluster_sizes(self, version: str) -> None:
        if version not in self.centroids:
            return
        sizes = [0] * len(self.centroids[version])
        for entry in self.rows.get(version, {}).values():
            sizes[entry.cluster_id] += 1
        self.cluster_sizes[version] = sizes

    def count_catalog(self, location: str | None = None) -> int:
        return sum(1 for entry in self.catalog.values() if location is None or entry.location == location)

    def catalog_encoders(self) -> list[str]:
        return sorted({entry.encoder for entry in self.catalog.values()})

    def catalog_page(self, after: str, limit: int) -> CatalogPage:
        ids = sorted(i for i in self.catalog if i > after)[:limit]
        if not ids:
            return CatalogPage([], [], [], [], [], np.zeros((0, 0), dtype=np.float32), [])
        entries = [self.catalog[i] for i in ids]
        return CatalogPage(
            ids,
            [e.name for e in entries],
            [e.caption for e in entries],
            [e.alternatives for e in entries],
            [e.captioner for e in entries],
            np.stack([e.embedding for e in entries]),  # (N, D)
            [e.tags for e in entries],
            [e.taken for e in entries],
            [e.taken_from for e in entries],
            [e.text_in_picture for e in entries],
            stack_visual([e.visual for e in entries]),
        )

    def insert_version_rows(self, batch: RowBatch) -> int:
        held = self.rows.get(batch.bundle_version, {})
        duplicate = next((i for i in batch.image_ids if i in held), None)
        if duplicate is not None:
            raise ValueError(f"version {batch.bundle_version} already holds image {duplicate}")
        self._put_rows(batch)
        return len(batch)

    def store_centroids(self, version: str, centroids: np.ndarray) -> None:
        self.centroids[version] = np.asarray(centroids, dtype=np.float32)
        self.refresh_cluster_sizes(version)

    def build_vector_index(
        self, version: str, dim: int, method: str, lists: int, storage: VectorStorage = DEFAULT_STORAGE
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"index method must be one of {', '.join(METHODS)}, got {method!r}")
        self.vector_storage[version] = vector_storage(storage)
        self.vector_indexes.add((version, method))

    def build_visual_index(self, version: str, dim: int) -> None:
        self.vector_indexes.add((version, VISUAL_METHOD))

    def _put_rows(self, batch: RowBatch) -> None:
        rows = self.rows.setdefault(batch.bundle_version, {})
        alternatives = batch.alternatives if batch.alternatives is not None else [""] * len(batch)
        tags = batch.tags if batch.tags is not None else ["[]"] * len(batch)
        read = batch.text_in_picture if batch.text_in_picture is not None else [""] * len(batch)
        for i, image_id in enumerate(batch.image_ids):
            rows[image_id] = IndexEntry(
                batch.names[i],
                batch.captions[i],
                alternatives[i],
                np.asarray(batch.embeddings[i], dtype=np.float32),
                int(batch.cluster_ids[i]),
                batch.captioners[i],
                tags[i],
                batch.taken[i] if batch.taken else None,
                batch.taken_from[i] if batch.taken_from else "",
                read[i],
                _row(batch.visual, i),
            )


def _row(vectors: np.ndarray | None, i: int) -> np.ndarray | None:
    """Row ``i`` of a nullable vector column (None, or a NaN row: NULL)."""
    if vectors is None or np.isnan(vectors[i]).all():
        return None
    return np.asarray(vectors[i], dtype=np.float32)
