"""Search by picture's visual column: the pooled features through every writer, the bundle's visual PCA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psycopg2
import pytest
from pgvector.psycopg2 import register_vector

from core.bundle import VISUAL_FILE, BundleError, load_bundle
from core.space import normalize_rows
from core.visual import project_visual
from indexing.catalog import CatalogBatch, read_page, write_catalog
from indexing.memory import MemoryWriter
from indexing.report import RunSummary
from indexing.session import ConnectionSession
from indexing.store import RowBatch, insert_new_rows, merge_rows
from indexing.versions import CatalogRows, FitOptions, build_version
from indexing.write import PostgresWriter, Writer

FEATURES = 12  # E: a backbone's pooled width, small


def _catalog(count: int, *, missing: int | None = None) -> CatalogBatch:
    """``count`` catalog rows with pooled features; row ``missing`` has none (NaN: NULL)."""
    rng = np.random.default_rng(count)
    visual = np.abs(rng.normal(size=(count, FEATURES))).astype(np.float32)  # (N, E) like ReLU features
    if missing is not None:
        visual[missing] = np.nan
    ids = [f"id{i:02d}" for i in range(count)]
    return CatalogBatch(
        "folder:x",
        ids,
        [f"{i}.png" for i in range(count)],
        ["etag"] * count,
        [f"caption {i}" for i in range(count)],
        [""] * count,
        np.zeros(count, dtype=np.float32),
        "ckpt",
        "enc",
        normalize_rows(rng.normal(size=(count, 384)).astype(np.float32)),  # (N, D)
        visual=visual,
    )


def _connect(dsn: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(dsn)
    register_vector(conn)  # as core.database's pool does
    return conn


def _same(stored: np.ndarray | None, expected: np.ndarray) -> None:
    assert stored is not None
    np.testing.assert_array_equal(np.isnan(stored), np.isnan(expected))
    np.testing.assert_allclose(np.nan_to_num(stored), np.nan_to_num(expected), rtol=1e-6)


def test_postgres_writers_round_trip_the_visual_column_with_nulls(fresh_dsn: str) -> None:
    conn = _connect(fresh_dsn)
    batch = _catalog(4, missing=2)
    write_catalog(conn, batch)
    write_catalog(conn, batch)  # a retried batch merges, visual included
    _same(read_page(conn, "", 10).visual, batch.visual)  # type: ignore[arg-type]
    reduced = batch.visual[:, :3]  # type: ignore[index]
    rows = RowBatch(
        "v1", batch.image_ids, batch.names, batch.captions, np.ones((4, 3)), np.zeros(4), ["c"] * 4
    )
    insert_new_rows(conn, RowBatch(**{**rows.__dict__, "visual": reduced}))
    merge_rows(conn, RowBatch(**{**rows.__dict__, "bundle_version": "v2"}))  # no visual: all NULL
    with conn.cursor() as cur:
        cur.execute("SELECT bundle_version, image_id, visual FROM images ORDER BY 1, 2")
        stored = {(v, i): None if x is None else x.to_numpy() for v, i, x in cur.fetchall()}
    conn.rollback()
    assert [stored[("v2", i)] for i in batch.image_ids] == [None] * 4
    assert stored[("v1", "id02")] is None
    stored_visual = stored[("v1", "id03")]
    assert stored_visual is not None
    np.testing.assert_allclose(stored_visual, reduced[3], rtol=1e-6)
    conn.close()


def test_a_catalog_row_without_features_reads_back_as_none(fresh_dsn: str) -> None:
    conn = _connect(fresh_dsn)
    batch = _catalog(2)
    write_catalog(conn, CatalogBatch(**{**batch.__dict__, "visual": None}))  # an older indexer's rows
    assert read_page(conn, "", 10).visual is None
    conn.close()


def _build(writer: Writer, share: Path, encoder_dir: Path) -> str:
    options = FitOptions(pca_dim=3, clusters=2, show_progress=False, vector_index=None)
    return build_version(CatalogRows(writer), writer, share, encoder_dir, options, RunSummary("build"))


@pytest.mark.parametrize("store", ["memory", "postgres"])
def test_publish_fits_the_visual_pca_and_every_row_is_projected_with_it(
    store: str, fresh_dsn: str, tmp_path: Path, encoder_dir: Path
) -> None:
    batch = _catalog(9, missing=4)
    conn = _connect(fresh_dsn) if store == "postgres" else None
    writer: Writer = MemoryWriter() if conn is None else PostgresWriter(ConnectionSession(conn))
    writer.store_batch(batch, [], None)
    version = _build(writer, tmp_path, encoder_dir)

    bundle = load_bundle(tmp_path)
    components = bundle.visual_components
    assert components is not None and components.shape == (7, FEATURES)  # min(64, E, 8 rows with one - 1)
    np.testing.assert_allclose(components @ components.T, np.eye(7), atol=1e-5)  # orthonormal
    assert bundle.manifest["visual"] == {"input_dim": FEATURES, "output_dim": 7}
    assert VISUAL_FILE in bundle.manifest["files"]  # checksummed like the rest
    expected = project_visual(batch.visual, components)  # type: ignore[arg-type]
    if isinstance(writer, MemoryWriter):
        stored = [writer.rows[version][i].visual for i in batch.image_ids]
    else:
        assert conn is not None
        with conn.cursor() as cur:
            cur.execute("SELECT visual FROM images WHERE bundle_version = %s ORDER BY image_id", (version,))
            stored = [None if v is None else v.to_numpy() for (v,) in cur.fetchall()]
        conn.close()
    assert stored[4] is None  # no features: no visual row, not a zero vector
    np.testing.assert_allclose(
        np.stack([s for s in stored if s is not None]), np.delete(expected, 4, 0), atol=1e-5
    )


def test_a_catalog_without_features_publishes_without_a_visual_pca(tmp_path: Path, encoder_dir: Path) -> None:
    writer = MemoryWriter()
    batch = _catalog(5)
    writer.store_batch(CatalogBatch(**{**batch.__dict__, "visual": None}), [], None)
    version = _build(writer, tmp_path, encoder_dir)
    bundle = load_bundle(tmp_path)
    assert bundle.visual_components is None and "visual" not in bundle.manifest
    assert all(row.visual is None for row in writer.rows[version].values())


def test_a_visual_pca_that_disagrees_with_the_manifest_is_refused(tmp_path: Path, encoder_dir: Path) -> None:
    writer = MemoryWriter()
    writer.store_batch(_catalog(5), [], None)
    version = _build(writer, tmp_path, encoder_dir)
    manifest_path = tmp_path / "bundles" / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["visual"]["output_dim"] = 2
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="the visual PCA"):
        load_bundle(tmp_path)
