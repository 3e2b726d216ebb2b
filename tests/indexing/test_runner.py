"""The pipeline end to end, in process: first run, re-run, additions and deletions, refit, prune."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import psycopg2
import pytest

from core.bundle import bundles_root, load_bundle
from core.images import LocalFolderStore
from core.space import nearest_clusters, project
from indexing.prune import prune_versions
from indexing.refit import FitOptions, refit
from indexing.report import RunSummary
from indexing.runner import Models
from indexing.write import PostgresWriter
from tests.indexing.conftest import quiet_options
from tests.indexing.pipeline_helpers import database, index, index_state, write_broken_files
from training.synthetic import make_shapes


def test_first_run_fits_and_publishes_and_a_rerun_adds_nothing(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path, tiny_models: Models
) -> None:
    images, share = tmp_path / "images", tmp_path / "share"
    make_shapes(images, 20)
    make_shapes(images / "sub", 2, seed=3)
    broken = write_broken_files(images)
    log = tmp_path / "skipped.jsonl"
    db = database(fresh_dsn)
    writer = PostgresWriter(db)

    first = index(
        lambda: LocalFolderStore(images), writer, share, encoder_dir, tiny_models, quiet_options(skip_log=log)
    )
    assert (first.seen, first.indexed, first.already_indexed) == (26, 22, 0)
    assert dict(first.skipped) == {"empty": 1, "undecodable": 2, "too_large": 1}
    assert first.refitted
    assert {
        json.loads(line)["name"]: json.loads(line)["reason"] for line in log.read_text().splitlines()
    } == broken

    state = index_state(fresh_dsn, share)
    assert state.active == first.bundle_version
    assert set(state.rows) == set(state.catalog) and len(state.rows) == 22
    assert "sub/shape-00000.png" in {name for name, _ in state.catalog.values()}
    assert state.clusters == 4 and state.cluster_sizes == 22
    conn = psycopg2.connect(fresh_dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT captioner FROM images")
        assert cur.fetchall() == [(tiny_models.captioner_id,)]
        cur.execute("SELECT DISTINCT captioner, encoder FROM catalog")
        assert cur.fetchall() == [(tiny_models.captioner_id, "sentence-transformers/all-MiniLM-L6-v2")]
    conn.close()

    again = index(
        lambda: LocalFolderStore(images), writer, share, encoder_dir, tiny_models, quiet_options(skip_log=log)
    )
    assert (again.seen, again.indexed, again.already_indexed, again.deleted) == (26, 0, 22, 0)
    assert sum(again.skipped.values()) == 4 and all("earlier run" in k for k in again.skipped)
    assert not again.refitted and again.bundle_version == first.bundle_version
    assert index_state(fresh_dsn, share) == state
    db.close()


def test_incremental_run_assigns_new_images_and_removes_deleted_ones_then_refit_and_prune(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path, tiny_models: Models
) -> None:
    images, share = tmp_path / "images", tmp_path / "share"
    names = make_shapes(images, 16)
    db = database(fresh_dsn)
    writer = PostgresWriter(db)
    source = lambda: LocalFolderStore(images)  # noqa: E731
    first = index(source, writer, share, encoder_dir, tiny_models, quiet_options())
    before = index_state(fresh_dsn, share)

    make_shapes(images, 5, seed=9, start=100)
    for name in names[:3]:
        (images / name).unlink()
    make_shapes(images, 1, seed=42, start=3)  # shape-00003.png rewritten: a new etag, a new identity
    later = index(source, writer, share, encoder_dir, tiny_models, quiet_options())
    assert (later.indexed, later.deleted, later.already_indexed) == (6, 4, 12)
    assert not later.refitted and later.bundle_version == first.bundle_version

    after = index_state(fresh_dsn, share)
    assert after.active == before.active and len(after.rows) == 18 == len(after.catalog)
    assert set(after.rows) == set(after.catalog) and after.cluster_sizes == 18
    assert {name for name, _ in after.catalog.values()} == {p.name for p in images.glob("*.png")}
    # New rows sit in the nearest existing cluster of the active bundle's space, nothing was refitted.
    bundle = load_bundle(share)
    conn = psycopg2.connect(fresh_dsn)
    from pgvector.psycopg2 import register_vector

    register_vector(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT embedding, image_id FROM catalog WHERE name = 'shape-00100.png'")
        full, image_id = cur.fetchone()
    full = full.to_numpy()
    expected = nearest_clusters(
        project(full[None, :], bundle.pca_mean, bundle.pca_components), bundle.centroids
    )
    assert after.rows[image_id] == int(expected[0, 0])

    summary = RunSummary("refit")
    version = refit(
        writer, share, encoder_dir, FitOptions(pca_dim=6, clusters=3, show_progress=False), summary
    )
    refitted = index_state(fresh_dsn, share)
    assert refitted.active == version != before.active
    assert set(refitted.rows) == set(after.rows) and refitted.clusters == 3
    assert refitted.versions == {before.active: 18, version: 18}  # the old one stays until pruned
    with conn.cursor() as cur:  # the search side's query, on the new version
        cur.execute(
            "SELECT count(*) FROM images WHERE bundle_version = %s AND cluster_id = ANY(%s)",
            (version, [0, 1, 2]),
        )
        assert cur.fetchone() == (18,)
    conn.close()

    assert prune_versions(db, share, grace=timedelta(hours=1)) == []
    assert prune_versions(db, share, grace=timedelta(0)) == [before.active]
    assert index_state(fresh_dsn, share).versions == {version: 18}
    assert sorted(p.name for p in bundles_root(share).iterdir() if p.is_dir()) == [version]
    db.close()


def test_a_refit_that_cannot_write_the_bundle_keeps_the_active_one(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path, tiny_models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from core import bundle as bundle_module
    from core.bundle import BundleWriteError

    images, share = tmp_path / "images", tmp_path / "share"
    make_shapes(images, 12)
    db = database(fresh_dsn)
    writer = PostgresWriter(db)
    first = index(lambda: LocalFolderStore(images), writer, share, encoder_dir, tiny_models, quiet_options())

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bundle_module.np, "save", full_disk)
    with pytest.raises(BundleWriteError, match="No space left on device; the active bundle is unchanged"):
        refit(
            writer,
            share,
            encoder_dir,
            FitOptions(pca_dim=4, clusters=2, show_progress=False),
            RunSummary("refit"),
        )
    state = index_state(fresh_dsn, share)
    assert state.active == first.bundle_version and len(state.rows) == 12
    assert load_bundle(share).version == first.bundle_version
    db.close()


def test_each_image_keeps_its_beam_captions_and_their_probability_weighted_mean_embedding(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path, tiny_models: Models
) -> None:
    from PIL import Image

    from core.captions import split_captions
    from core.space import beam_weights, normalize_rows
    from indexing.loaders import onnx_encoder

    images, share = tmp_path / "images", tmp_path / "share"
    names = make_shapes(images, 10)
    options = quiet_options(beam_size=4, captions_per_image=3)
    writer = PostgresWriter(database(fresh_dsn))
    index(lambda: LocalFolderStore(images), writer, share, encoder_dir, tiny_models, options)

    conn = psycopg2.connect(fresh_dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT name, caption, alternatives, embedding::text FROM catalog ORDER BY name")
        catalog_rows = cur.fetchall()
        cur.execute("SELECT name, caption, alternatives FROM images ORDER BY name")
        image_rows = cur.fetchall()
    conn.close()
    assert [r[:3] for r in catalog_rows] == image_rows and len(image_rows) == len(names)

    expected = tiny_models.captioner.caption_batch(
        [Image.open(images / name) for name in sorted(names)], beam_size=4, max_length=8
    )
    encoder = onnx_encoder(encoder_dir)
    unlike_plain_mean = 0
    for (name, caption, alternatives, embedding), result in zip(catalog_rows, expected, strict=True):
        others = split_captions(alternatives)
        assert caption == result.text
        assert others == [text for text, _ in result.alternatives[:2]]
        vectors = encoder.encode([caption, *others])  # (K, D)
        weights = beam_weights(np.array([result.score, *(s for _, s in result.alternatives[:2])]))
        weighted = normalize_rows((weights[:, None] * vectors).sum(axis=0, keepdims=True))[0]
        plain = normalize_rows(vectors.mean(axis=0, keepdims=True))[0]
        stored = np.array([float(x) for x in embedding.strip("[]").split(",")])
        assert abs(float(weighted @ stored) - 1.0) < 1e-5, name
        unlike_plain_mean += float(plain @ stored) < 1 - 1e-4
    assert unlike_plain_mean > 0
