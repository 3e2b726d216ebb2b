"""Faults during a run: the database going away (retries, then a clear failure that resumes), blobs."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.database import make_connector, start_embedded_postgres, stop_embedded_postgres
from core.images import BlobImageStore, LocalFolderStore
from indexing.runner import Models
from indexing.session import Database, IndexingError
from indexing.write import PostgresWriter
from tests.indexing.conftest import quiet_options
from tests.indexing.pipeline_helpers import database, index, index_state
from training.synthetic import make_shapes


@pytest.fixture
def own_server() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="caption-search-index-outage-"))
    try:
        yield folder / "data"
    finally:
        stop_embedded_postgres(folder / "data")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_database_outage_retries_then_fails_clearly_and_a_rerun_completes(
    own_server: Path, fresh_dsn: str, tmp_path: Path, encoder_dir: Path, tiny_models: Models
) -> None:
    images = tmp_path / "images"
    make_shapes(images, 40)
    source = lambda: LocalFolderStore(images)  # noqa: E731
    index(
        source,
        PostgresWriter(database(fresh_dsn)),
        tmp_path / "ref",
        encoder_dir,
        tiny_models,
        quiet_options(),
    )
    reference = index_state(fresh_dsn, tmp_path / "ref")

    dsn = start_embedded_postgres(own_server)
    share = tmp_path / "share"

    def brief_outage(batch: int) -> None:  # down for about a second after batch 1: the retries ride it out
        if batch == 1:
            stop_embedded_postgres(own_server)
            threading.Timer(1.0, start_embedded_postgres, (own_server,)).start()

    def long_outage(batch: int) -> None:  # down for good after batch 3: the run gives up
        if batch == 3:
            stop_embedded_postgres(own_server)

    def both_outages(batch: int) -> None:
        brief_outage(batch)
        long_outage(batch)

    db = Database(make_connector(dsn), attempts=6, first_delay=0.5, max_delay=1.0)
    with pytest.raises(IndexingError) as failure:
        index(
            source,
            PostgresWriter(db),
            share,
            encoder_dir,
            tiny_models,
            quiet_options(),
            after_batch=both_outages,
        )
    assert db.retries >= 1 + 5
    assert str(failure.value).startswith("the database is unavailable: storing a batch failed 6 times over ")
    assert str(failure.value).endswith("; re-run the command to resume")

    assert start_embedded_postgres(own_server) == dsn
    resumed = index(source, PostgresWriter(database(dsn)), share, encoder_dir, tiny_models, quiet_options())
    assert resumed.already_indexed == 24 and resumed.indexed == 16  # 3 batches of 8 were committed
    final = index_state(dsn, share)
    assert final.catalog == reference.catalog and final.rows == reference.rows


def test_a_blob_container_is_indexed_and_unreadable_blobs_are_skipped(
    azurite_connection_string: str, fresh_dsn: str, tmp_path: Path, encoder_dir: Path, tiny_models: Models
) -> None:
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(azurite_connection_string).create_container(
        "indexing"
    )
    folder = tmp_path / "images"
    for name in make_shapes(folder, 10):
        container.upload_blob(f"shapes/{name}", (folder / name).read_bytes())
    container.upload_blob("shapes/broken.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 garbage")
    container.upload_blob("readme.txt", b"not listed: not an image name")
    source = lambda: BlobImageStore.from_connection_string(azurite_connection_string, "indexing")  # noqa: E731

    summary = index(
        source,
        PostgresWriter(database(fresh_dsn)),
        tmp_path / "share",
        encoder_dir,
        tiny_models,
        quiet_options(workers=2),
    )
    assert (summary.seen, summary.indexed, dict(summary.skipped)) == (11, 10, {"undecodable": 1})
    state = index_state(fresh_dsn, tmp_path / "share")
    assert sorted(name for name, _ in state.catalog.values()) == [
        f"shapes/{n}" for n in sorted(make_names(10))
    ]

    container.delete_blob("shapes/shape-00000.png")
    again = index(
        source,
        PostgresWriter(database(fresh_dsn)),
        tmp_path / "share",
        encoder_dir,
        tiny_models,
        quiet_options(workers=2),
    )
    assert (again.deleted, again.indexed, again.already_indexed) == (1, 0, 9)


def make_names(count: int) -> list[str]:
    return [f"shape-{i:05d}.png" for i in range(count)]
