"""The write stage: what a run persists and what the version builder reads back, behind one interface.

``Writer`` is what the runner and the version builder are handed; ``PostgresWriter`` is production's
(every call one transaction through the retrying session), ``memory.MemoryWriter`` keeps the same
semantics in dictionaries so that a whole pipeline runs in a test without a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Protocol

import numpy as np

from core.database import Connection
from core.vector_index import DEFAULT_STORAGE, VectorStorage, create_vector_index, create_visual_index
from indexing import catalog, store
from indexing.catalog import CatalogBatch, CatalogPage, Skip
from indexing.session import Session
from indexing.store import RowBatch


class Writer(Protocol):
    """The catalog, the skip list, the listing of a run, and the rows and clusters of bundle versions."""

    @property
    def retries(self) -> int:
        """How often a lost database was retried (0 where there is none)."""
        ...

    def clear_listings(self) -> None:
        """Forget what earlier (finished or killed) runs listed."""

    def record_listing(self, run_id: str, image_ids: Sequence[str]) -> tuple[set[str], dict[str, str]]:
        """Mark ids as listed by ``run_id``; returns those in the catalog and those skipped (id -> reason)."""
        ...

    def delete_unlisted(self, location: str, run_id: str) -> int:
        """Remove images of ``location`` that ``run_id`` did not list, from every table; returns how many."""
        ...

    def store_batch(self, rows: CatalogBatch, skips: Sequence[Skip], index_rows: RowBatch | None) -> None:
        """One batch, all or nothing: catalog rows, permanent skips, rows added to the active version."""

    def has_version(self, version: str) -> bool:
        """Whether a version's centroids were stored (its rows are complete once they are)."""
        ...

    def refresh_cluster_sizes(self, version: str) -> None: ...

    def count_catalog(self, location: str | None = None) -> int: ...

    def catalog_encoders(self) -> list[str]: ...

    def catalog_page(self, after: str, limit: int) -> CatalogPage:
        """Up to ``limit`` catalog rows with image_id > ``after``, in image_id order."""
        ...

    def insert_version_rows(self, batch: RowBatch) -> int:
        """Rows of a version being built (none of them can exist yet); returns how many."""
        ...

    def store_centroids(self, version: str, centroids: np.ndarray) -> None:
        """The (K, d) centroids of a version, with cluster sizes counted from its rows."""

    def build_vector_index(
        self, version: str, dim: int, method: str, lists: int, storage: VectorStorage = DEFAULT_STORAGE
    ) -> None:
        """The ANN index (``core.vector_index.METHODS``) on a version's rows, built on ``storage``."""

    def build_visual_index(self, version: str, dim: int) -> None:
        """The HNSW index on a version's ``dim``-dimensional visual vectors (search by picture)."""


class PostgresWriter:
    """``Writer`` on PostgreSQL: each call is one transaction of ``session`` (retried where it retries)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def retries(self) -> int:
        return self.session.retries

    def clear_listings(self) -> None:
        self.session.run("clearing the listing", catalog.clear_listings)

    def record_listing(self, run_id: str, image_ids: Sequence[str]) -> tuple[set[str], dict[str, str]]:
        def record(conn: Connection) -> tuple[set[str], dict[str, str]]:
            catalog.mark_listed(conn, run_id, image_ids)
            return catalog.known_ids(conn, image_ids)

        return self.session.run("recording the listing", record)

    def delete_unlisted(self, location: str, run_id: str) -> int:
        return self.session.run(
            "deleting images gone from the source", lambda c: catalog.delete_unlisted(c, location, run_id)
        )

    def store_batch(self, rows: CatalogBatch, skips: Sequence[Skip], index_rows: RowBatch | None) -> None:
        self.session.run(
            "storing a batch", partial(_store_batch, rows=rows, skips=skips, index_rows=index_rows)
        )

    def has_version(self, version: str) -> bool:
        return self.session.run("checking the active version", lambda conn: store.has_clusters(conn, version))

    def refresh_cluster_sizes(self, version: str) -> None:
        self.session.run("recounting clusters", lambda conn: store.refresh_cluster_sizes(conn, version))

    def count_catalog(self, location: str | None = None) -> int:
        return self.session.run("counting the catalog", lambda conn: catalog.count_catalog(conn, location))

    def catalog_encoders(self) -> list[str]:
        return self.session.run("reading encoders", catalog.catalog_encoders)

    def catalog_page(self, after: str, limit: int) -> CatalogPage:
        return self.session.run("reading the catalog", lambda conn: catalog.read_page(conn, after, limit))

    def insert_version_rows(self, batch: RowBatch) -> int:
        return self.session.run("storing rows", partial(store.insert_new_rows, batch=batch))

    def store_centroids(self, version: str, centroids: np.ndarray) -> None:
        self.session.run("storing clusters", lambda conn: store.replace_clusters(conn, version, centroids))

    def build_vector_index(
        self, version: str, dim: int, method: str, lists: int, storage: VectorStorage = DEFAULT_STORAGE
    ) -> None:
        self.session.run(
            f"building the {method} index",
            lambda conn: create_vector_index(conn, version, dim, method, lists=lists, storage=storage),
        )

    def build_visual_index(self, version: str, dim: int) -> None:
        self.session.run("building the visual index", lambda conn: create_visual_index(conn, version, dim))


def _store_batch(
    conn: Connection, rows: CatalogBatch, skips: Sequence[Skip], index_rows: RowBatch | None
) -> None:
    catalog.write_catalog(conn, rows)
    catalog.record_skips(conn, rows.location, skips)
    if index_rows is not None:
        store.merge_rows(conn, index_rows)
