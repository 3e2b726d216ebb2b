"""The whole pipeline without a database: the runner handed an in-memory writer, and the two writers'
shared semantics checked call by call against PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.bundle import load_bundle
from core.images import LocalFolderStore
from core.space import nearest_clusters, project
from core.tags import parse_tags, tags_json
from core.vector_index import VISUAL_METHOD
from indexing.catalog import CatalogBatch, Skip
from indexing.memory import MemoryWriter
from indexing.runner import Models
from indexing.session import ConnectionSession
from indexing.store import RowBatch
from indexing.write import PostgresWriter, Writer
from tests.indexing.conftest import quiet_options
from tests.indexing.pipeline_helpers import index, write_broken_files
from training.synthetic import make_shapes


def test_list_caption_encode_fit_publish_then_an_incremental_run_all_in_memory(
    tmp_path: Path, encoder_dir: Path, tiny_models: Models
) -> None:
    images, share = tmp_path / "images", tmp_path / "share"
    names = make_shapes(images, 16)
    write_broken_files(images)
    writer = MemoryWriter()
    source = lambda: LocalFolderStore(images)  # noqa: E731

    first = index(source, writer, share, encoder_dir, tiny_models, quiet_options())
    assert (first.seen, first.indexed, first.already_indexed) == (20, 16, 0)
    assert dict(first.skipped) == {"empty": 1, "undecodable": 2, "too_large": 1}
    assert first.refitted and load_bundle(share).version == (version := first.bundle_version)
    assert version is not None
    assert set(writer.rows) == {version} and set(writer.rows[version]) == set(writer.catalog)
    assert len(writer.centroids[version]) == 4 and sum(writer.cluster_sizes[version]) == 16
    assert writer.vector_indexes == {(version, "ivfflat"), (version, VISUAL_METHOD)}  # it has visual rows
    reasons = sorted(skip.reason for _, skip in writer.skipped.values())
    assert reasons == ["empty", "too_large", "undecodable", "undecodable"]
    assert not writer.listing  # cleared at the end of the run

    make_shapes(images, 5, seed=9, start=100)
    for name in names[:3]:
        (images / name).unlink()
    make_shapes(images, 1, seed=42, start=3)  # shape-00003.png rewritten: a new etag, a new identity
    (images / "empty.png").unlink()
    later = index(source, writer, share, encoder_dir, tiny_models, quiet_options())
    assert (later.indexed, later.deleted, later.already_indexed) == (6, 4, 12)
    assert sum(later.skipped.values()) == 3 and all("earlier run" in k for k in later.skipped)
    assert not later.refitted and later.bundle_version == version
    assert len(writer.skipped) == 3  # the deleted empty.png is forgotten

    held = {entry.name for entry in writer.catalog.values()}
    assert held == {p.name for p in images.glob("shape-*.png")} and len(held) == 18
    assert set(writer.rows[version]) == set(writer.catalog) and sum(writer.cluster_sizes[version]) == 18
    bundle = load_bundle(share)
    for image_id, entry in writer.catalog.items():  # every new row sits in its nearest active cluster
        if entry.name == "shape-00100.png":
            reduced = project(entry.embedding[None, :], bundle.pca_mean, bundle.pca_components)  # (1, d)
            assert writer.rows[version][image_id].cluster_id == int(
                nearest_clusters(reduced, bundle.centroids)[0, 0]
            )


def _catalog_batch(location: str, ids: list[str]) -> CatalogBatch:
    rng = np.random.default_rng(len(ids))
    return CatalogBatch(
        location,
        ids,
        [f"{i}.png" for i in ids],
        ["etag"] * len(ids),
        [f"caption of {i}" for i in ids],
        [f"other\nof {i}" for i in ids],
        np.zeros(len(ids), dtype=np.float32),
        "captioner-1",
        "encoder-1",
        rng.normal(size=(len(ids), 6)).astype(np.float32),  # (N, D)
        [tags_json([(f"tag of {i}", 0.5), ("thing", 0.25)]) for i in ids],
    )


def _index_batch(version: str, ids: list[str]) -> RowBatch:
    vectors = np.eye(len(ids), 3, dtype=np.float32)  # (N, d)
    tags = [tags_json([(i, 1.0)]) for i in ids]
    return RowBatch(version, ids, ids, ids, vectors, np.arange(len(ids)) % 2, ["c"] * len(ids), ids, tags)


@pytest.fixture(params=["memory", "postgres"])
def writer(request: pytest.FixtureRequest) -> Iterator[Writer]:
    if request.param == "memory":
        yield MemoryWriter()
        return
    import psycopg2

    conn = psycopg2.connect(request.getfixturevalue("fresh_dsn"))
    from pgvector.psycopg2 import register_vector

    register_vector(conn)
    yield PostgresWriter(ConnectionSession(conn))
    conn.close()


def test_both_writers_keep_the_same_catalog_listing_skips_and_versions(writer: Writer) -> None:
    writer.store_batch(_catalog_batch("here", ["a", "b", "c"]), [Skip("x", "x.png", "empty", "zero")], None)
    writer.store_batch(_catalog_batch("there", ["d"]), [], None)
    writer.store_batch(_catalog_batch("here", ["a"]), [], None)  # a resumed batch: no duplicate
    assert (writer.count_catalog(), writer.count_catalog("here"), writer.catalog_encoders()) == (
        4,
        3,
        ["encoder-1"],
    )
    page = writer.catalog_page("a", 2)
    assert (page.image_ids, page.captions, page.alternatives) == (
        ["b", "c"],
        ["caption of b", "caption of c"],
        ["other\nof b", "other\nof c"],
    )
    assert [parse_tags(t) for t in page.tags] == [
        (("tag of b", 0.5), ("thing", 0.25)),
        (("tag of c", 0.5), ("thing", 0.25)),
    ]
    assert page.embeddings.shape == (2, 6) and writer.catalog_page("d", 5).image_ids == []

    assert writer.insert_version_rows(_index_batch("v1", ["a", "b", "c", "d"])) == 4
    assert not writer.has_version("v1")
    writer.store_centroids("v1", np.eye(2, 3, dtype=np.float32))
    assert writer.has_version("v1")

    writer.clear_listings()
    assert writer.record_listing("run", ["a", "x", "new"]) == ({"a"}, {"x": "empty"})
    assert writer.delete_unlisted("here", "run") == 2  # b and c; d is another location's
    assert writer.catalog_page("", 10).image_ids == ["a", "d"]
    writer.store_batch(_catalog_batch("here", ["e"]), [], _index_batch("v1", ["e"]))
    writer.refresh_cluster_sizes("v1")
    assert writer.record_listing("run2", ["a", "x"]) == ({"a"}, {"x": "empty"})
    assert writer.delete_unlisted("here", "run2") == 1  # e, with its row in v1
    writer.clear_listings()
    assert writer.record_listing("run3", ["e", "x"]) == (set(), {"x": "empty"})
    assert writer.delete_unlisted("here", "run3") == 1  # a; x is listed, so its skip stays
    assert writer.record_listing("run4", ["x"]) == (set(), {"x": "empty"})
    assert writer.retries == 0
