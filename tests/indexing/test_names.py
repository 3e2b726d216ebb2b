"""File names that are not valid UTF-8: skipped with a reason, remembered, and never the end of a run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg2

from core.images import LocalFolderStore
from indexing.report import printable_name
from indexing.runner import Models
from indexing.write import PostgresWriter
from tests.indexing.conftest import quiet_options
from tests.indexing.pipeline_helpers import database, index, index_state
from training.synthetic import make_shapes


def _write_bytes_named(folder: Path, name: bytes, data: bytes) -> None:
    """A file whose name is raw bytes, as a camera card or an old archive can hold."""
    path = os.path.join(os.fsencode(folder), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def test_printable_name_shows_the_bytes_that_are_not_utf8() -> None:
    assert printable_name("plain/été.png") == "plain/été.png"
    assert printable_name(os.fsdecode(b"bad\xffname.png")) == "bad\\xffname.png"
    assert printable_name("lone\ud800.png") == "lone\\ud800.png"


def test_names_that_are_not_utf8_are_skipped_remembered_and_deletions_still_happen(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path, tiny_models: Models
) -> None:
    images, share, log = tmp_path / "images", tmp_path / "share", tmp_path / "skipped.jsonl"
    names = make_shapes(images, 12)
    png = (images / names[0]).read_bytes()
    _write_bytes_named(images, b"bad\xffname.png", png)
    _write_bytes_named(images, b"dir\xfe/inside.png", png)
    writer = PostgresWriter(database(fresh_dsn))
    source = lambda: LocalFolderStore(images)  # noqa: E731

    first = index(source, writer, share, encoder_dir, tiny_models, quiet_options(skip_log=log))
    assert (first.seen, first.indexed, first.already_indexed) == (14, 12, 0)
    assert dict(first.skipped) == {"invalid_name": 2}
    assert first.refitted and first.bundle_version is not None
    logged = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert sorted((entry["name"], entry["reason"]) for entry in logged) == [
        ("bad\\xffname.png", "invalid_name"),
        ("dir\\xfe/inside.png", "invalid_name"),
    ]
    assert logged[0]["detail"].endswith("the file name is not valid UTF-8; rename the file to index it")
    conn = psycopg2.connect(fresh_dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT name, reason FROM skipped ORDER BY name")
        assert cur.fetchall() == [
            ("bad\\xffname.png", "invalid_name"),
            ("dir\\xfe/inside.png", "invalid_name"),
        ]
    conn.close()

    (images / names[1]).unlink()
    again = index(source, writer, share, encoder_dir, tiny_models, quiet_options())
    assert (again.seen, again.indexed, again.already_indexed, again.deleted) == (13, 0, 11, 1)
    assert dict(again.skipped) == {"invalid_name (earlier run)": 2}
    assert again.bundle_version == first.bundle_version
    state = index_state(fresh_dsn, share)
    assert len(state.rows) == 11 and names[1] not in {name for name, _ in state.catalog.values()}

    os.rename(os.path.join(os.fsencode(images), b"bad\xffname.png"), images / "renamed.png")
    renamed = index(source, writer, share, encoder_dir, tiny_models, quiet_options())
    assert (renamed.indexed, renamed.already_indexed) == (1, 11)
    assert dict(renamed.skipped) == {"invalid_name (earlier run)": 1}
    conn = psycopg2.connect(fresh_dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM skipped")
        assert cur.fetchall() == [("dir\\xfe/inside.png",)]  # the renamed file's skip is forgotten
    conn.close()
