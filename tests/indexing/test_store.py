"""The index rows' writes as production makes them: COPY into a new version, merge into the active one."""

from __future__ import annotations

import numpy as np
import psycopg2
import pytest

from core.database import apply_schema
from core.vector_index import create_vector_index, vector_index_name
from indexing.store import (
    RowBatch,
    delete_version,
    has_clusters,
    insert_new_rows,
    merge_rows,
    refresh_cluster_sizes,
    replace_clusters,
    version_row_counts,
)


def _batch(version: str, captions: list[str], first: int = 0) -> RowBatch:
    rng = np.random.default_rng(first)
    vectors = rng.normal(size=(len(captions), 4)).astype(np.float32)  # (N, 4)
    ids = range(first, first + len(captions))
    return RowBatch(
        version,
        [f"id{i}" for i in ids],
        [f"dir/name {i}.png" for i in ids],
        captions,
        vectors,
        np.array([i % 2 for i in ids], dtype=np.int32),
        ["ckpt-1"] * len(captions),
        [f"other {c}" for c in captions],
    )


def test_schema_can_be_applied_twice(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    apply_schema(conn)
    apply_schema(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'")
        assert cur.fetchone() == ("vector",)
    conn.close()


def test_merge_is_idempotent_and_updates_in_place(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    batch = _batch("v1", ["a dog", "a cat", "a bird"])
    assert merge_rows(conn, batch) == 3
    assert merge_rows(conn, batch) == 3  # a resumed run writes the same batch again
    changed = _batch("v1", ["a dog again"])
    merge_rows(conn, changed)
    conn.commit()
    assert version_row_counts(conn) == {"v1": 3}
    with conn.cursor() as cur:
        cur.execute("SELECT caption, alternatives FROM images WHERE image_id = 'id0'")
        assert cur.fetchone() == ("a dog again", "other a dog again")
    conn.close()


def test_insert_new_rows_copies_a_new_version_and_refuses_a_duplicate(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    assert insert_new_rows(conn, _batch("v2", ["a", "b"])) == 2
    assert insert_new_rows(conn, _batch("v2", [])) == 0
    conn.commit()
    with pytest.raises(psycopg2.errors.UniqueViolation):
        insert_new_rows(conn, _batch("v2", ["a"]))
    conn.rollback()
    assert version_row_counts(conn) == {"v2": 2}
    conn.close()


@pytest.mark.parametrize("write", [merge_rows, insert_new_rows])
def test_copy_round_trips_awkward_text(fresh_dsn: str, write: object) -> None:
    conn = psycopg2.connect(fresh_dsn)
    awkward = [
        "tab\there",
        "new\nline",
        "back\\slash \\N",
        "quote ' and \" ; DROP TABLE images; --",
        "Ünïcödé 東京",
    ]
    write(conn, _batch("v1", awkward))  # type: ignore[operator]
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT caption FROM images ORDER BY image_id")
        assert [r[0] for r in cur.fetchall()] == awkward
    conn.close()


def test_vectors_survive_the_copy(fresh_dsn: str) -> None:
    from pgvector.psycopg2 import register_vector

    conn = psycopg2.connect(fresh_dsn)
    register_vector(conn)
    batch = _batch("v1", ["x"])
    insert_new_rows(conn, batch)
    with conn.cursor() as cur:
        cur.execute("SELECT embedding FROM images")
        stored = cur.fetchone()[0]
    conn.close()
    np.testing.assert_allclose(stored.to_numpy(), batch.embeddings[0], rtol=1e-6)


def test_cluster_sizes_follow_the_rows_and_a_deleted_version_leaves_nothing(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    insert_new_rows(conn, _batch("old", ["a", "b"]))
    replace_clusters(conn, "old", np.eye(2, 4, dtype=np.float32))
    insert_new_rows(conn, _batch("new", ["a", "b", "c"]))
    assert not has_clusters(conn, "new")
    replace_clusters(conn, "new", np.eye(2, 4, dtype=np.float32))
    assert has_clusters(conn, "new")
    sizes = "SELECT cluster_id, size FROM clusters WHERE bundle_version = %s ORDER BY cluster_id"
    with conn.cursor() as cur:
        cur.execute(sizes, ("new",))
        assert cur.fetchall() == [(0, 2), (1, 1)]
    merge_rows(conn, _batch("new", ["d", "e"], first=3))  # an incremental run adds ids 3 and 4
    refresh_cluster_sizes(conn, "new")
    with conn.cursor() as cur:
        cur.execute(sizes, ("new",))
        assert cur.fetchall() == [(0, 3), (1, 2)]
    create_vector_index(conn, "old", 4, "hnsw", lists=2)
    conn.commit()

    assert delete_version(conn, "old") == 2
    conn.commit()
    assert version_row_counts(conn) == {"new": 5}
    assert not has_clusters(conn, "old")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = %s", (vector_index_name("old", "hnsw"),)
        )
        assert cur.fetchone() == (0,)
    conn.close()
