"""The visual route's HNSW index on images.visual: built at publish, used by search_visual, dropped with
its version; over the real PostgreSQL + pgvector."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import numpy as np
import psycopg2

from core.bundle import load_bundle
from core.space import normalize_rows
from core.vector_index import VISUAL_METHOD, create_visual_index, vector_index_name
from function_app.index_reader import ann_index_exists
from function_app.visual_search import search_visual, visual_ann_query
from indexing.catalog import CatalogBatch
from indexing.memory import MemoryWriter
from indexing.report import RunSummary
from indexing.session import ConnectionSession
from indexing.store import RowBatch, delete_version, insert_new_rows
from indexing.versions import CatalogRows, FitOptions, build_version
from indexing.write import PostgresWriter, Writer
from tests.indexing.test_visual import _catalog, _connect

DIM = 16  # v: the visual space of the search tests


def _publish(writer: Writer, share: Path, encoder_dir: Path) -> str:
    options = FitOptions(pca_dim=3, clusters=2, show_progress=False, vector_index="hnsw")
    return build_version(CatalogRows(writer), writer, share, encoder_dir, options, RunSummary("build"))


def test_publish_builds_the_visual_index_and_deleting_the_version_drops_it(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path
) -> None:
    conn = _connect(fresh_dsn)
    writer = PostgresWriter(ConnectionSession(conn))
    writer.store_batch(_catalog(9), [], None)
    version = _publish(writer, tmp_path, encoder_dir)
    dim = load_bundle(tmp_path).manifest["visual"]["output_dim"]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
            (vector_index_name(version, VISUAL_METHOD),),
        )
        (definition,) = cur.fetchone()
    assert f"(visual)::vector({dim})" in definition and "USING hnsw" in definition
    assert "visual IS NOT NULL" in definition and version in definition
    assert ann_index_exists(conn, version, "hnsw")  # the text index beside it
    delete_version(conn, version)  # what prune and a failed publish run
    conn.commit()
    assert not ann_index_exists(conn, version, VISUAL_METHOD)
    assert not ann_index_exists(conn, version, "hnsw")
    conn.close()


def test_a_version_without_visual_vectors_gets_no_visual_index(tmp_path: Path, encoder_dir: Path) -> None:
    writer = MemoryWriter()
    writer.store_batch(CatalogBatch(**{**_catalog(5).__dict__, "visual": None}), [], None)
    version = _publish(writer, tmp_path, encoder_dir)
    assert (version, "hnsw") in writer.vector_indexes
    assert (version, VISUAL_METHOD) not in writer.vector_indexes


def _fill(conn: psycopg2.extensions.connection, version: str, rows: int) -> np.ndarray:
    """``rows`` rows of ``version`` with clustered unit visual vectors, every 10th without one."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(12, DIM))
    visual = normalize_rows(centres[rng.integers(0, 12, rows)] + 0.5 * rng.normal(size=(rows, DIM)))
    visual = visual.astype(np.float32)
    visual[::10] = np.nan
    ids = [f"img{i:04d}" for i in range(rows)]
    batch = RowBatch(
        version,
        ids,
        [f"{i}.png" for i in ids],
        ["a caption"] * rows,
        normalize_rows(rng.normal(size=(rows, 8)).astype(np.float32)),
        np.zeros(rows, dtype=np.int32),
        ["c"] * rows,
        visual=visual,
    )
    insert_new_rows(conn, batch)
    conn.commit()
    return visual


def test_the_index_is_used_and_agrees_with_exact_search(fresh_dsn: str) -> None:
    conn = _connect(fresh_dsn)
    visual = _fill(conn, "v1", 400)
    _fill(conn, "v2", 50)  # another version's rows are never ranked
    create_visual_index(conn, "v1", DIM)
    with conn.cursor() as cur:
        cur.execute("ANALYZE images")
    conn.commit()
    # A few hundred rows are sorted faster than the index is walked; forbid that, or the "ANN" search
    # would be exact too.
    walk = _connect(fresh_dsn + "&options=" + quote("-c enable_seqscan=off -c enable_sort=off"))
    with walk.cursor() as cur:
        params = {"query": visual[1], "version": "v1", "k": 10}
        cur.execute("EXPLAIN " + visual_ann_query(DIM).as_string(walk), params)
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert vector_index_name("v1", VISUAL_METHOD) in plan
    rng = np.random.default_rng(3)
    overlaps = []
    for query in normalize_rows(rng.normal(size=(20, DIM)).astype(np.float32)):
        exact = [image.image_id for image in search_visual(conn, "v1", query, 10)]
        ann = search_visual(walk, "v1", query, 10, ef_search=40)
        assert len(ann) == 10
        assert [a.similarity for a in ann] == sorted((a.similarity for a in ann), reverse=True)
        overlaps.append(len(set(exact) & {image.image_id for image in ann}) / 10)
    assert np.mean(overlaps) >= 0.9, overlaps
    own = search_visual(walk, "v1", visual[11], 1, ef_search=40)[0]  # a stored vector finds its own row
    assert own.image_id == "img0011" and own.similarity > 0.9999
    without = {f"img{i:04d}" for i in range(0, 400, 10)}  # rows without a visual vector are not ranked
    assert not without & {image.image_id for image in search_visual(walk, "v1", visual[1], 50, ef_search=60)}
    walk.close()
    conn.close()
