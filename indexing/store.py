"""Writes to the search index in PostgreSQL: bulk writes through binary COPY, clusters, housekeeping.

A new bundle version's rows are COPied straight into ``images`` (nothing can conflict with a fresh
version). Rows added to an existing version are staged with COPY into a temporary table and merged with
INSERT ... ON CONFLICT, so writing the same image twice (a resumed run) updates it instead of adding a
duplicate.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core.database import Connection
from core.vector_index import drop_vector_indexes
from indexing.catalog import taken_columns, visual_column
from indexing.copy_binary import Column, encode_copy

_COLUMNS = (
    "bundle_version, image_id, name, caption, alternatives, embedding, cluster_id, captioner, tags"
    ", taken, taken_from"
    ", text_in_picture"
    ", visual"
)
_COPY_IMAGES = f"COPY images ({_COLUMNS}) FROM STDIN WITH (FORMAT binary)"
_COPY_STAGING = f"COPY images_staging ({_COLUMNS}) FROM STDIN WITH (FORMAT binary)"
_CREATE_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS images_staging (LIKE images INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS"
)
_MERGE_STAGING = (
    f"INSERT INTO images ({_COLUMNS}) SELECT {_COLUMNS} FROM images_staging "
    "ON CONFLICT (bundle_version, image_id) DO UPDATE SET "
    "name = EXCLUDED.name, caption = EXCLUDED.caption, alternatives = EXCLUDED.alternatives, "
    "embedding = EXCLUDED.embedding, tags = EXCLUDED.tags, "
    "taken = EXCLUDED.taken, taken_from = EXCLUDED.taken_from, "
    "text_in_picture = EXCLUDED.text_in_picture, visual = EXCLUDED.visual, "
    "cluster_id = EXCLUDED.cluster_id, captioner = EXCLUDED.captioner, updated_at = now()"
)


@dataclass(frozen=True)
class RowBatch:
    """Rows of one bundle version, column by column (cheaper than one object per row)."""

    bundle_version: str
    image_ids: Sequence[str]
    names: Sequence[str]
    captions: Sequence[str]
    embeddings: np.ndarray  # (N, d) unit vectors in the bundle's reduced space
    cluster_ids: np.ndarray  # (N,)
    captioners: Sequence[str]
    alternatives: Sequence[str] | None = None  # per row, other captions one per line; None: none
    tags: Sequence[str] | None = None  # per row, its tags as stored JSON (core/tags.py); None: none
    taken: Sequence[datetime | None] | None = None  # per row, when it was taken; None: unknown
    taken_from: Sequence[str] | None = None  # per row, "exif" or "modified"
    text_in_picture: Sequence[str] | None = None  # per row, the words OCR read in it; None: none
    visual: np.ndarray | None = None  # (N, v) unit vectors in the bundle's visual space; None/NaN row: none

    def __len__(self) -> int:
        return len(self.image_ids)

    def copy_payload(self) -> bytes:
        n = len(self)
        return encode_copy(
            [
                Column("text", [self.bundle_version] * len(self)),
                Column("text", self.image_ids),
                Column("text", self.names),
                Column("text", self.captions),
                Column("text", self.alternatives if self.alternatives is not None else [""] * len(self)),
                Column("vector", np.asarray(self.embeddings, dtype=np.float32)),
                Column("int4", np.asarray(self.cluster_ids, dtype=np.int32)),
                Column("text", self.captioners),
                Column("jsonb", self.tags if self.tags is not None else ["[]"] * len(self)),
                *taken_columns(self.taken, self.taken_from, len(self)),
                Column("text", self.text_in_picture if self.text_in_picture is not None else [""] * n),
                visual_column(self.visual, n),
            ]
        )


def insert_new_rows(conn: Connection, batch: RowBatch) -> int:
    """COPY rows straight into ``images``; for a version being built, where no row can exist yet."""
    if len(batch) == 0:
        return 0
    with conn.cursor() as cur:
        cur.copy_expert(_COPY_IMAGES, io.BytesIO(batch.copy_payload()))
    return len(batch)


def merge_rows(conn: Connection, batch: RowBatch) -> int:
    """Insert or update rows keyed by (bundle_version, image_id); returns how many were written."""
    if len(batch) == 0:
        return 0
    with conn.cursor() as cur:
        cur.execute(_CREATE_STAGING)
        cur.copy_expert(_COPY_STAGING, io.BytesIO(batch.copy_payload()))
        cur.execute(_MERGE_STAGING)
        cur.execute("TRUNCATE images_staging")
    return len(batch)


def _vector_text(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32).tolist()) + "]"


def replace_clusters(conn: Connection, bundle_version: str, centroids: np.ndarray) -> None:
    """Store the centroids of a bundle version and recount cluster sizes from its rows."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM clusters WHERE bundle_version = %s", (bundle_version,))
        cur.executemany(
            "INSERT INTO clusters (bundle_version, cluster_id, centroid) VALUES (%s, %s, %s::vector)",
            [(bundle_version, index, _vector_text(c)) for index, c in enumerate(centroids)],
        )
    refresh_cluster_sizes(conn, bundle_version)


def refresh_cluster_sizes(conn: Connection, bundle_version: str) -> None:
    with conn.cursor() as cur:
        # One index-only count per cluster on images (bundle_version, cluster_id).
        cur.execute(
            "UPDATE clusters AS c SET size = (SELECT count(*) FROM images AS i "
            "WHERE i.bundle_version = c.bundle_version AND i.cluster_id = c.cluster_id) "
            "WHERE c.bundle_version = %s",
            (bundle_version,),
        )


def has_clusters(conn: Connection, bundle_version: str) -> bool:
    """Whether a version's centroids were stored (its rows are complete once they are)."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM clusters WHERE bundle_version = %s LIMIT 1", (bundle_version,))
        return cur.fetchone() is not None


def delete_version(conn: Connection, bundle_version: str) -> int:
    """Remove the ANN indexes, rows and clusters of one bundle version; returns rows deleted."""
    drop_vector_indexes(conn, bundle_version)  # first: the delete then needs not update them
    with conn.cursor() as cur:
        cur.execute("DELETE FROM images WHERE bundle_version = %s", (bundle_version,))
        deleted = cur.rowcount
        cur.execute("DELETE FROM clusters WHERE bundle_version = %s", (bundle_version,))
    return int(deleted)


def version_row_counts(conn: Connection) -> dict[str, int]:
    """Rows per bundle version present in the database."""
    with conn.cursor() as cur:
        cur.execute("SELECT bundle_version, count(*) FROM images GROUP BY bundle_version ORDER BY 1")
        return {str(version): int(n) for version, n in cur.fetchall()}
