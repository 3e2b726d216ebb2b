"""The catalog: every captioned source image with its full caption embedding, and the skip list.

Static SQL with bound parameters; bulk writes go through binary COPY and a staging merge, so writing
a batch twice (a retried or resumed run) never duplicates a row.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from core.database import Connection
from indexing.copy_binary import Column, encode_copy

_CATALOG_COLUMNS = (
    "image_id, location, name, etag, caption, alternatives, score, captioner, encoder, embedding, tags"
    ", taken, taken_from"
    ", text_in_picture"
    ", visual"
)
_CREATE_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS catalog_staging (LIKE catalog INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS"
)
_MERGE = (
    f"INSERT INTO catalog ({_CATALOG_COLUMNS}) SELECT {_CATALOG_COLUMNS} FROM catalog_staging "
    "ON CONFLICT (image_id) DO UPDATE SET caption = EXCLUDED.caption, alternatives = EXCLUDED.alternatives, "
    "score = EXCLUDED.score, tags = EXCLUDED.tags, "
    "taken = EXCLUDED.taken, taken_from = EXCLUDED.taken_from, "
    "text_in_picture = EXCLUDED.text_in_picture, visual = EXCLUDED.visual, "
    "captioner = EXCLUDED.captioner, encoder = EXCLUDED.encoder, embedding = EXCLUDED.embedding"
)
# Images of a location that the run `run` did not list are gone from the source (or changed: new etag).
_UNLISTED = (
    "c.location = %(location)s AND NOT EXISTS "
    "(SELECT 1 FROM listing AS l WHERE l.run_id = %(run)s AND l.image_id = c.image_id)"
)
_DELETE_UNLISTED_ROWS = (
    f"DELETE FROM images WHERE image_id IN (SELECT c.image_id FROM catalog AS c WHERE {_UNLISTED})"
)
_DELETE_UNLISTED_CATALOG = f"DELETE FROM catalog AS c WHERE {_UNLISTED}"
_DELETE_UNLISTED_SKIPS = f"DELETE FROM skipped AS c WHERE {_UNLISTED}"


@dataclass(frozen=True)
class CatalogBatch:
    """Captioned and encoded images of one location, column by column."""

    location: str
    image_ids: Sequence[str]
    names: Sequence[str]
    etags: Sequence[str]
    captions: Sequence[str]
    alternatives: Sequence[str]  # per image, its other captions joined by newlines (join_captions)
    scores: np.ndarray  # (N,)
    captioner: str
    encoder: str
    embeddings: np.ndarray  # (N, D) full-dimension embeddings: captions mixed with tags (stages.py)
    tags: Sequence[str] | None = None  # per image, its tags as stored JSON (core/tags.py); None: none
    taken: Sequence[datetime | None] | None = None  # per image, when it was taken (indexing/taken.py)
    taken_from: Sequence[str] | None = None  # per image, "exif" or "modified"
    text_in_picture: Sequence[str] | None = None  # per image, the words OCR read in it; None: OCR off
    visual: np.ndarray | None = None  # (N, E) pooled backbone features; None or a NaN row: none

    def __len__(self) -> int:
        return len(self.image_ids)


def taken_columns(
    taken: Sequence[datetime | None] | None, taken_from: Sequence[str] | None, rows: int
) -> list[Column]:
    """The taken and taken_from COPY columns of ``rows`` rows; missing ones NULL and ''."""
    return [
        Column("timestamptz", list(taken) if taken else [None] * rows),
        Column("text", list(taken_from) if taken_from else [""] * rows),
    ]


def visual_column(visual: np.ndarray | None, rows: int) -> Column:
    """The nullable visual COPY column of ``rows`` rows: NULL where ``visual`` is None or a row is NaN."""
    if visual is None:
        return Column("vector", np.full((rows, 1), np.nan, dtype=np.float32))
    return Column("vector", np.asarray(visual, dtype=np.float32))


def visual_array(vectors: Sequence[object]) -> np.ndarray | None:
    """(N, E) stored visual vectors (pgvector's, or None for NULL) with NaN rows for the NULLs; None if
    every row is NULL."""
    arrays = [None if v is None else np.asarray(v.to_numpy(), dtype=np.float32) for v in vectors]  # type: ignore[attr-defined]
    return stack_visual(arrays)


def stack_visual(arrays: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """(N, E) of per-row vectors with NaN rows where a row has none; None if no row has one."""
    present = [a for a in arrays if a is not None]
    if not present:
        return None
    width = present[0].shape[0]
    return np.stack([a if a is not None else np.full(width, np.nan, np.float32) for a in arrays])


@dataclass(frozen=True)
class Skip:
    image_id: str
    name: str
    reason: str  # a short code: empty, undecodable, too_large, unreadable, gone
    detail: str


def write_catalog(conn: Connection, batch: CatalogBatch) -> int:
    if len(batch) == 0:
        return 0
    n = len(batch)
    payload = encode_copy(
        [
            Column("text", batch.image_ids),
            Column("text", [batch.location] * n),
            Column("text", batch.names),
            Column("text", batch.etags),
            Column("text", batch.captions),
            Column("text", batch.alternatives),
            Column("float4", np.asarray(batch.scores, dtype=np.float32)),
            Column("text", [batch.captioner] * n),
            Column("text", [batch.encoder] * n),
            Column("vector", np.asarray(batch.embeddings, dtype=np.float32)),
            Column("jsonb", batch.tags if batch.tags is not None else ["[]"] * n),
            *taken_columns(batch.taken, batch.taken_from, n),
            Column("text", batch.text_in_picture if batch.text_in_picture is not None else [""] * n),
            visual_column(batch.visual, n),
        ]
    )
    with conn.cursor() as cur:
        cur.execute(_CREATE_STAGING)
        cur.copy_expert(
            f"COPY catalog_staging ({_CATALOG_COLUMNS}) FROM STDIN WITH (FORMAT binary)", io.BytesIO(payload)
        )
        cur.execute(_MERGE)
        cur.execute("TRUNCATE catalog_staging")
    return n


def record_skips(conn: Connection, location: str, skips: Sequence[Skip]) -> None:
    """Remember images that cannot be indexed as they are, so later runs do not read them again."""
    if not skips:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO skipped (image_id, location, name, reason, detail) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (image_id) DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail",
            [(s.image_id, location, s.name, s.reason, s.detail) for s in skips],
        )


def mark_listed(conn: Connection, run_id: str, image_ids: Sequence[str]) -> None:
    """Record that this run listed these images (see ``delete_unlisted``)."""
    payload = encode_copy([Column("text", [run_id] * len(image_ids)), Column("text", image_ids)])
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS listing_staging (LIKE listing) ON COMMIT DELETE ROWS"
        )
        cur.copy_expert(
            "COPY listing_staging (run_id, image_id) FROM STDIN WITH (FORMAT binary)", io.BytesIO(payload)
        )
        cur.execute("INSERT INTO listing SELECT * FROM listing_staging ON CONFLICT DO NOTHING")
        cur.execute("TRUNCATE listing_staging")


def known_ids(conn: Connection, image_ids: Sequence[str]) -> tuple[set[str], dict[str, str]]:
    """Of these ids: those already in the catalog, and those skipped for good (id -> reason)."""
    with conn.cursor() as cur:
        cur.execute("SELECT image_id FROM catalog WHERE image_id = ANY(%s)", (list(image_ids),))
        done = {str(row[0]) for row in cur.fetchall()}
        cur.execute("SELECT image_id, reason FROM skipped WHERE image_id = ANY(%s)", (list(image_ids),))
        failed = {str(row[0]): str(row[1]) for row in cur.fetchall()}
    return done, failed


def clear_listings(conn: Connection) -> None:
    """Drop what earlier (finished or killed) runs listed."""
    with conn.cursor() as cur:
        cur.execute("TRUNCATE listing")


def count_catalog(conn: Connection, location: str | None = None) -> int:
    with conn.cursor() as cur:
        if location is None:
            cur.execute("SELECT count(*) FROM catalog")
        else:
            cur.execute("SELECT count(*) FROM catalog WHERE location = %s", (location,))
        row = cur.fetchone()
    return int(row[0]) if row else 0


def delete_unlisted(conn: Connection, location: str, run_id: str) -> int:
    """Remove images of ``location`` that run ``run_id`` did not list, from every table; returns how many."""
    params = {"location": location, "run": run_id}
    with conn.cursor() as cur:
        cur.execute(_DELETE_UNLISTED_ROWS, params)
        cur.execute(_DELETE_UNLISTED_CATALOG, params)
        removed = cur.rowcount
        cur.execute(_DELETE_UNLISTED_SKIPS, params)
    return int(removed)


def catalog_encoders(conn: Connection) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT encoder FROM catalog ORDER BY 1")
        return [str(row[0]) for row in cur.fetchall()]


@dataclass(frozen=True)
class CatalogPage:
    image_ids: list[str]
    names: list[str]
    captions: list[str]
    alternatives: list[str]
    captioners: list[str]
    embeddings: np.ndarray  # (N, D)
    tags: list[str]  # per row, its tags as stored JSON (core/tags.py)
    taken: list[datetime | None] = field(default_factory=list)  # per row; empty: unknown for all
    taken_from: list[str] = field(default_factory=list)
    text_in_picture: list[str] = field(default_factory=list)  # per row, the words OCR read in it
    visual: np.ndarray | None = None  # (N, E) pooled backbone features, NaN rows for none; None: no row has


def read_page(conn: Connection, after: str, limit: int) -> CatalogPage:
    """Up to ``limit`` catalog rows with image_id > ``after``, in image_id order (keyset pagination)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT image_id, name, caption, alternatives, captioner, embedding, tags::text, "
            "taken, taken_from, text_in_picture, visual FROM catalog "
            "WHERE image_id > %s ORDER BY image_id LIMIT %s",
            (after, limit),
        )
        rows = cur.fetchall()
    if not rows:
        return CatalogPage([], [], [], [], [], np.zeros((0, 0), dtype=np.float32), [])
    return CatalogPage(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        np.stack([r[5].to_numpy() for r in rows]).astype(np.float32),
        [r[6] for r in rows],
        [r[7] for r in rows],
        [r[8] for r in rows],
        [r[9] for r in rows],
        visual_array([r[10] for r in rows]),
    )


def skip_counts(conn: Connection) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT reason, count(*) FROM skipped GROUP BY reason ORDER BY 1")
        return {str(reason): int(n) for reason, n in cur.fetchall()}


def captioner_counts(conn: Connection) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT captioner, count(*) FROM catalog GROUP BY captioner ORDER BY 1")
        return {str(name): int(n) for name, n in cur.fetchall()}
