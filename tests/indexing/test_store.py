import numpy as np
import psycopg2

from core.database import apply_schema
from function_app.index_reader import count_images
from indexing.store import IndexRow, delete_versions_except, replace_clusters, upsert_images


def _rows(version: str, captions: list[str]) -> list[IndexRow]:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(captions), 4)).astype(np.float32)
    return [
        IndexRow(version, f"id{i}", f"dir/name {i}.png", c, vectors[i], i % 2, "ckpt-1")
        for i, c in enumerate(captions)
    ]


def test_schema_can_be_applied_twice(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    apply_schema(conn)
    apply_schema(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'")
        assert cur.fetchone() == ("vector",)
    conn.close()


def test_upsert_is_idempotent_and_updates_in_place(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    rows = _rows("v1", ["a dog", "a cat", "a bird"])
    assert upsert_images(conn, rows) == 3
    assert upsert_images(conn, rows) == 3
    changed = [
        IndexRow(r.bundle_version, r.image_id, r.name, r.caption + " again", r.embedding, r.cluster_id)
        for r in rows[:1]
    ]
    upsert_images(conn, changed)
    conn.commit()
    assert count_images(conn, "v1") == 3
    with conn.cursor() as cur:
        cur.execute("SELECT caption FROM images WHERE image_id = 'id0'")
        assert cur.fetchone() == ("a dog again",)
    conn.close()


def test_copy_round_trips_awkward_text(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    awkward = [
        "tab\there",
        "new\nline",
        "back\\slash \\N",
        "quote ' and \" ; DROP TABLE images; --",
        "Ünïcödé 東京",
    ]
    upsert_images(conn, _rows("v1", awkward))
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT caption FROM images ORDER BY image_id")
        assert [r[0] for r in cur.fetchall()] == awkward
    conn.close()


def test_vectors_survive_the_copy(fresh_dsn: str) -> None:
    from pgvector.psycopg2 import register_vector

    conn = psycopg2.connect(fresh_dsn)
    register_vector(conn)
    rows = _rows("v1", ["x"])
    upsert_images(conn, rows)
    with conn.cursor() as cur:
        cur.execute("SELECT embedding FROM images")
        stored = cur.fetchone()[0]
    conn.close()
    np.testing.assert_allclose(stored.to_numpy(), rows[0].embedding, rtol=1e-6)


def test_clusters_sizes_and_pruning_of_old_versions(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    upsert_images(conn, _rows("old", ["a", "b"]))
    upsert_images(conn, _rows("new", ["a", "b", "c"]))
    replace_clusters(conn, "new", np.eye(2, 4, dtype=np.float32))
    with conn.cursor() as cur:
        cur.execute("SELECT cluster_id, size FROM clusters WHERE bundle_version = 'new' ORDER BY cluster_id")
        assert cur.fetchall() == [(0, 2), (1, 1)]
    assert delete_versions_except(conn, ["new"]) == 2
    conn.commit()
    assert count_images(conn, "old") == 0
    assert count_images(conn, "new") == 3
    conn.close()
