"""INDEX_VECTOR_STORAGE through the indexer: the setting, the version builders and both writers, the bundle
manifest that records it, an incremental run that keeps the version's own, and ``status``."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import psycopg2
import pytest

from core.bundle import VECTOR_STORAGE_KEY, BundleError, bundles_root, load_bundle
from core.images import LocalFolderStore
from core.space import normalize_rows
from core.vector_index import vector_index_name
from indexing.cli import _fit_options, cmd_status
from indexing.memory import MemoryWriter
from indexing.report import RunSummary
from indexing.runner import Models
from indexing.settings import IndexSettings, SettingsError
from indexing.store import RowBatch, insert_new_rows
from indexing.versions import CaptionedImage, FitOptions, ImageRows, build_index, build_version
from tests.indexing.conftest import quiet_options
from tests.indexing.pipeline_helpers import index
from training.synthetic import make_shapes


def _images(count: int = 12) -> tuple[list[CaptionedImage], np.ndarray]:
    images = [CaptionedImage(f"id{i:02d}", f"{i}.png", f"caption {i}") for i in range(count)]
    return images, normalize_rows(np.random.default_rng(0).normal(size=(count, 384)).astype(np.float32))


def test_the_setting_defaults_to_vector_and_names_the_variable_when_malformed() -> None:
    assert IndexSettings.from_env({}).vector_storage == "vector"
    assert IndexSettings.from_env({"INDEX_VECTOR_STORAGE": " HalfVec "}).vector_storage == "halfvec"
    with pytest.raises(
        SettingsError, match=r"^INDEX_VECTOR_STORAGE must be one of vector, halfvec, got 'float16'$"
    ):
        IndexSettings.from_env({"INDEX_VECTOR_STORAGE": "float16"})
    # What index and refit build with (their first run fits through the same options).
    settings = IndexSettings.from_env({"INDEX_VECTOR_STORAGE": "halfvec"})
    flags = argparse.Namespace(pca_dim=None, clusters=None, no_progress=True)
    assert _fit_options(flags, settings).vector_storage == "halfvec"


def test_the_memory_writer_and_the_manifest_record_the_storage(tmp_path: Path, encoder_dir: Path) -> None:
    writer = MemoryWriter()
    options = FitOptions(
        pca_dim=4, clusters=2, show_progress=False, vector_index="hnsw", vector_storage="halfvec"
    )
    version = build_version(
        ImageRows(*_images()), writer, tmp_path, encoder_dir, options, RunSummary("build")
    )
    assert writer.vector_indexes == {(version, "hnsw")} and writer.vector_storage == {version: "halfvec"}
    bundle = load_bundle(tmp_path)
    assert bundle.manifest[VECTOR_STORAGE_KEY] == "halfvec" and bundle.vector_storage == "halfvec"
    with pytest.raises(ValueError, match=r"^vector storage must be one of vector, halfvec, got 'half'$"):
        writer.build_vector_index(version, 4, "hnsw", 2, "half")  # type: ignore[arg-type]


def test_a_bundle_without_the_key_reads_as_vector_and_a_wrong_one_is_refused(
    tmp_path: Path, encoder_dir: Path
) -> None:
    options = FitOptions(pca_dim=4, clusters=2, show_progress=False, vector_index=None)
    version = build_version(
        ImageRows(*_images()), MemoryWriter(), tmp_path, encoder_dir, options, RunSummary("build")
    )
    manifest_path = bundles_root(tmp_path) / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest[VECTOR_STORAGE_KEY] == "vector"
    del manifest[VECTOR_STORAGE_KEY]  # as published before the key
    manifest_path.write_text(json.dumps(manifest))
    assert load_bundle(tmp_path).vector_storage == "vector"
    manifest_path.write_text(json.dumps({**manifest, VECTOR_STORAGE_KEY: "float16"}))
    message = (
        f"bundle {version}: the manifest's vector_storage is wrong "
        "(vector storage must be one of vector, halfvec, got 'float16')"
    )
    with pytest.raises(BundleError) as raised:
        load_bundle(tmp_path)
    assert str(raised.value) == message


def test_postgres_builds_a_halfvec_index_and_status_shows_each_version_s_storage(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path
) -> None:
    images, embeddings = _images()
    conn = psycopg2.connect(fresh_dsn)
    version = build_index(
        images,
        conn=conn,
        share=tmp_path,
        encoder_dir=encoder_dir,
        pca_dim=4,
        clusters=2,
        embeddings=embeddings,
        vector_index="ivfflat",
        vector_storage="halfvec",
    )
    # A killed build's rows: a version with no bundle, so no recorded storage.
    unit = np.eye(1, 4, dtype=np.float32)  # (1, d)
    batch = RowBatch("unpublished", ["x"], ["x.png"], ["x"], unit, np.zeros(1, np.int32), ["c"])
    insert_new_rows(conn, batch)
    conn.commit()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (vector_index_name(version, "ivfflat"),)
        )
        row = cur.fetchone()
    conn.close()
    assert row is not None and "((embedding)::halfvec(4)) halfvec_cosine_ops" in row[0]
    settings = IndexSettings.from_env({"DATABASE_URL": fresh_dsn, "MODEL_SHARE_PATH": str(tmp_path)})
    report = cmd_status(settings, argparse.Namespace(db_attempts=1, db_first_delay=0.01))
    assert report["versions"] == {
        version: {"rows": 12, "state": "active", "vector_storage": "halfvec"},
        "unpublished": {"rows": 1, "state": "unpublished", "vector_storage": None},
    }


def test_an_incremental_run_keeps_the_active_version_s_storage(
    tmp_path: Path, encoder_dir: Path, tiny_models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    images, share = tmp_path / "images", tmp_path / "share"
    make_shapes(images, 10)
    writer = MemoryWriter()
    source = lambda: LocalFolderStore(images)  # noqa: E731
    halfvec = quiet_options()
    halfvec = replace(halfvec, fit=replace(halfvec.fit, vector_storage="halfvec"))
    first = index(source, writer, share, encoder_dir, tiny_models, halfvec)
    version = first.bundle_version
    assert version is not None and writer.vector_storage == {version: "halfvec"}

    make_shapes(images, 2, seed=9, start=100)
    with caplog.at_level(logging.INFO, logger="indexing.runner"):
        later = index(source, writer, share, encoder_dir, tiny_models, quiet_options())  # setting: vector
    assert (later.indexed, later.refitted, later.bundle_version) == (2, False, version)
    assert len(writer.rows[version]) == 12
    assert writer.vector_storage == {version: "halfvec"}  # no index was built again
    assert load_bundle(share).vector_storage == "halfvec"
    assert (
        f"bundle {version} keeps its halfvec index; INDEX_VECTOR_STORAGE=vector applies from the next refit"
        in caplog.messages
    )
