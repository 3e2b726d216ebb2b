"""pgvector ANN indexes (HNSW, IVFFlat) on one bundle version's rows.

``images.embedding`` is an untyped ``vector`` column so that bundle versions of different PCA sizes can
live side by side; an ANN index needs a fixed dimension, so each one is a partial expression index
on ``embedding::vector(d)`` restricted to one bundle version, and queries order by the same expression.
With the ``halfvec`` storage (INDEX_VECTOR_STORAGE) the index is built on ``embedding::halfvec(d)``
instead: half the bytes per vector in the index, which must sit in the server's RAM at 10M+ rows; the
column itself stays ``vector``, so similarities are still computed in full precision.
Search by picture's ``images.visual`` gets the same: an HNSW index on ``visual::vector(v)`` per version,
over its rows that have a visual vector (``VISUAL_METHOD``).
"""

from __future__ import annotations

import hashlib
import time
from enum import StrEnum
from typing import Literal

from psycopg2 import sql

from core.database import Connection


class Strategy(StrEnum):
    """How the service ranks a version's rows; the ANN ones need the indexer to build their index."""

    HNSW = "hnsw"  # a pgvector HNSW index per bundle version
    IVFFLAT = "ivfflat"  # a pgvector IVFFlat index per bundle version, lists = the K-means clusters
    CLUSTERS = "clusters"  # only the rows of the query's nearest K-means clusters (no extra index)
    EXACT = "exact"  # every row (the reference; slow on large indexes)

    @property
    def vector_index(self) -> str | None:
        """The ANN index method the indexer builds for this strategy, or None."""
        return self.value if self in (Strategy.HNSW, Strategy.IVFFLAT) else None


METHODS = ("hnsw", "ivfflat")
DEFAULT_STRATEGY = Strategy.IVFFLAT  # the fastest to recall@10 >= 0.95 at 1M rows (docs/scale.md)
DEFAULT_VECTOR_INDEX = DEFAULT_STRATEGY.vector_index
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
VISUAL_METHOD = "visual_hnsw"  # the name part of a version's HNSW index on images.visual
VectorStorage = Literal["vector", "halfvec"]
STORAGES: tuple[VectorStorage, ...] = ("vector", "halfvec")  # the element type a text ANN index is built on
DEFAULT_STORAGE: VectorStorage = "vector"


def vector_index_name(bundle_version: str, method: str) -> str:
    digest = hashlib.sha256(bundle_version.encode()).hexdigest()[:16]
    return f"images_{method}_{digest}"


def vector_storage(value: str) -> VectorStorage:
    """``value`` as a VectorStorage, or ValueError saying what is allowed."""
    for storage in STORAGES:
        if value == storage:
            return storage
    raise ValueError(f"vector storage must be one of {', '.join(STORAGES)}, got {value!r}")


def typed_embedding(dim: int, storage: VectorStorage = DEFAULT_STORAGE) -> sql.Composable:
    """The expression the ANN indexes are built on and queries must order by: embedding::vector(dim), or
    embedding::halfvec(dim) for a version whose index has the halfvec storage."""
    return _typed("embedding", dim, storage)


def typed_visual(dim: int) -> sql.Composable:
    """The expression the visual HNSW index is built on and picture queries order by: visual::vector(dim)."""
    return _typed("visual", dim)


def _typed(
    column: Literal["embedding", "visual"], dim: int, storage: VectorStorage = DEFAULT_STORAGE
) -> sql.Composable:
    if not 1 <= int(dim) <= 16_000:
        raise ValueError(f"vector dimension must be between 1 and 16000, got {dim}")
    kind = sql.SQL(vector_storage(storage))
    return sql.SQL("({}::{}({}))").format(sql.SQL(column), kind, sql.Literal(int(dim)))


def create_vector_index(
    conn: Connection,
    bundle_version: str,
    dim: int,
    method: str,
    *,
    lists: int = 100,
    storage: VectorStorage = DEFAULT_STORAGE,
) -> float:
    """Build the ANN index for ``bundle_version`` on ``typed_embedding(dim, storage)`` if it is missing;
    returns the seconds it took."""
    if method not in METHODS:
        raise ValueError(f"index method must be one of {', '.join(METHODS)}, got {method!r}")
    options = (
        sql.SQL("m = {}, ef_construction = {}").format(sql.Literal(HNSW_M), sql.Literal(HNSW_EF_CONSTRUCTION))
        if method == "hnsw"
        else sql.SQL("lists = {}").format(sql.Literal(max(1, int(lists))))
    )
    statement = sql.SQL(
        "CREATE INDEX IF NOT EXISTS {name} ON images USING {method} ({column} {ops}) "
        "WITH ({options}) WHERE bundle_version = {version}"
    ).format(
        name=sql.Identifier(vector_index_name(bundle_version, method)),
        method=sql.SQL(method),
        column=typed_embedding(dim, storage),
        ops=sql.SQL(f"{vector_storage(storage)}_cosine_ops"),
        options=options,
        version=sql.Literal(bundle_version),
    )
    return _build(conn, statement)


def create_visual_index(conn: Connection, bundle_version: str, dim: int) -> float:
    """Build the HNSW index on ``bundle_version``'s visual vectors (``dim`` from the bundle's visual
    manifest) if it is missing; returns the seconds it took. Rows without one are not in it."""
    statement = sql.SQL(
        "CREATE INDEX IF NOT EXISTS {name} ON images USING hnsw ({column} vector_cosine_ops) "
        "WITH (m = {m}, ef_construction = {ef}) WHERE bundle_version = {version} AND visual IS NOT NULL"
    ).format(
        name=sql.Identifier(vector_index_name(bundle_version, VISUAL_METHOD)),
        column=typed_visual(dim),
        m=sql.Literal(HNSW_M),
        ef=sql.Literal(HNSW_EF_CONSTRUCTION),
        version=sql.Literal(bundle_version),
    )
    return _build(conn, statement)


def _build(conn: Connection, statement: sql.Composable) -> float:
    started = time.perf_counter()
    with conn.cursor() as cur:
        # Session level, not SET LOCAL, so that it also holds on an autocommit connection (the IVFFlat
        # build of 1M rows needs about 220 MB); a failed build's rollback undoes the SET as well.
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute(statement)
        cur.execute("RESET maintenance_work_mem")
    return time.perf_counter() - started


def drop_vector_indexes(conn: Connection, bundle_version: str) -> None:
    with conn.cursor() as cur:
        for method in (*METHODS, VISUAL_METHOD):
            name = sql.Identifier(vector_index_name(bundle_version, method))
            cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(name))
