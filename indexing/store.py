"""Writes to the search index in PostgreSQL: bulk upserts through COPY, clusters, housekeeping.

Rows are staged with COPY into a temporary table and merged with INSERT ... ON CONFLICT, so writing
the same image twice (a resumed run) updates it instead of adding a duplicate.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from indexing.database import Connection

_COLUMNS = ("bundle_version", "image_id", "name", "caption", "embedding", "cluster_id", "captioner")


@dataclass(frozen=True)
class IndexRow:
    bundle_version: str
    image_id: str
    name: str
    caption: str
    embedding: np.ndarray  # (d,) unit vector in the bundle's reduced space
    cluster_id: int
    captioner: str = ""


def _copy_text(value: str) -> str:
    """Escape a value for PostgreSQL's COPY text format."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _vector_text(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32).tolist()) + "]"


def upsert_images(conn: Connection, rows: Iterable[IndexRow]) -> int:
    """Insert or update rows keyed by (bundle_version, image_id); returns how many were written."""
    buffer = io.StringIO()
    count = 0
    for row in rows:
        fields = (
            _copy_text(row.bundle_version),
            _copy_text(row.image_id),
            _copy_text(row.name),
            _copy_text(row.caption),
            _vector_text(row.embedding),
            str(int(row.cluster_id)),
            _copy_text(row.captioner),
        )
        buffer.write("\t".join(fields) + "\n")
        count += 1
    if count == 0:
        return 0
    buffer.seek(0)
    columns = ", ".join(_COLUMNS)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS images_staging "
            "(LIKE images INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        cur.copy_expert(f"COPY images_staging ({columns}) FROM STDIN", buffer)
        cur.execute(
            f"INSERT INTO images ({columns}) SELECT {columns} FROM images_staging "
            "ON CONFLICT (bundle_version, image_id) DO UPDATE SET "
            "name = EXCLUDED.name, caption = EXCLUDED.caption, embedding = EXCLUDED.embedding, "
            "cluster_id = EXCLUDED.cluster_id, captioner = EXCLUDED.captioner, updated_at = now()"
        )
        cur.execute("TRUNCATE images_staging")
    return count


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
        cur.execute(
            "UPDATE clusters AS c SET size = coalesce(s.n, 0) FROM clusters AS k "
            "LEFT JOIN (SELECT cluster_id, count(*) AS n FROM images WHERE bundle_version = %(v)s "
            "GROUP BY cluster_id) AS s ON s.cluster_id = k.cluster_id "
            "WHERE c.bundle_version = %(v)s AND k.bundle_version = %(v)s AND c.cluster_id = k.cluster_id",
            {"v": bundle_version},
        )


def delete_versions_except(conn: Connection, keep: Sequence[str]) -> int:
    """Remove rows and clusters of every bundle version not in ``keep``; returns rows deleted."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM images WHERE NOT (bundle_version = ANY(%s))", (list(keep),))
        deleted = cur.rowcount
        cur.execute("DELETE FROM clusters WHERE NOT (bundle_version = ANY(%s))", (list(keep),))
    return int(deleted)


def count_images(conn: Connection, bundle_version: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM images WHERE bundle_version = %s", (bundle_version,))
        row = cur.fetchone()
    return int(row[0]) if row else 0
