"""When a picture was taken: EXIF DateTimeOriginal read at decode time, else the file's modification time,
stored by both writers (PostgreSQL binary COPY and the in-memory one) and carried into version rows."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import numpy as np
import psycopg2
import pytest
from pgvector.psycopg2 import register_vector
from PIL import Image

from core.images import LocalFolderStore
from indexing.catalog import CatalogBatch, read_page, write_catalog
from indexing.memory import MemoryWriter
from indexing.read import Decoded, WorkItem, collate, read_item
from indexing.store import RowBatch, insert_new_rows
from indexing.taken import DATE_TIME_ORIGINAL, EXIF_IFD, OFFSET_TIME_ORIGINAL, exif_taken, parse_exif_date
from training.images import preprocess_image

PREP = partial(preprocess_image, image_size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
MTIME = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)


def _jpeg(original: str | None = None, offset: str | None = None, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    if original is not None:
        exif.get_ifd(EXIF_IFD)[DATE_TIME_ORIGINAL] = original
    if offset is not None:
        exif.get_ifd(EXIF_IFD)[OFFSET_TIME_ORIGINAL] = offset
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), "blue").save(buffer, fmt, exif=exif.tobytes())
    return buffer.getvalue()


def test_date_time_original_is_read_with_its_offset() -> None:
    assert exif_taken(_jpeg("2019:07:14 18:30:05")) == datetime(2019, 7, 14, 18, 30, 5, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    taken = exif_taken(_jpeg("2019:07:14 18:30:05", "+02:00"))
    assert taken == datetime(2019, 7, 14, 18, 30, 5, tzinfo=plus_two)
    assert taken is not None and taken.astimezone(UTC).hour == 16
    assert exif_taken(_jpeg("2019:07:14 18:30:05", fmt="PNG")) == datetime(2019, 7, 14, 18, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "value", ["", "0000:00:00 00:00:00", "2019:13:01 00:00:00", "yesterday", "    :  :     :  :  ", "2019-07"]
)
def test_malformed_exif_dates_are_none(value: str) -> None:
    assert exif_taken(_jpeg(value)) is None


def test_bad_offsets_are_ignored_and_non_text_values_refused() -> None:
    assert parse_exif_date("2020:01:02 03:04:05", "+99:00") == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_exif_date(b"2020:01:02 03:04:05\x00", b"-05:30") == datetime(
        2020, 1, 2, 3, 4, 5, tzinfo=timezone(-timedelta(hours=5, minutes=30))
    )
    assert parse_exif_date(20200102) is None
    assert parse_exif_date(None) is None


def test_images_without_exif_or_not_images_at_all_have_none() -> None:
    assert exif_taken(_jpeg()) is None
    assert exif_taken(b"not an image") is None
    # A JPEG whose EXIF segment is cut short: PIL may fail reading it, the run must not.
    data = _jpeg("2019:07:14 18:30:05")
    start = data.index(b"Exif\x00\x00")
    assert exif_taken(data[: start + 12] + data[start + 40 :]) is None


def test_read_item_takes_exif_else_the_files_modification_time(tmp_path: Path) -> None:
    (tmp_path / "exif.jpg").write_bytes(_jpeg("2018:01:02 03:04:05"))
    (tmp_path / "plain.jpg").write_bytes(_jpeg())
    (tmp_path / "broken.jpg").write_bytes(_jpeg("2018:99:02 03:04:05"))
    for name in ("plain.jpg", "broken.jpg"):
        os.utime(tmp_path / name, (MTIME.timestamp(), MTIME.timestamp()))
    store = LocalFolderStore(tmp_path)
    refs = {ref.name: ref for ref in store.list_images()}
    results = []
    for name in ("exif.jpg", "plain.jpg", "broken.jpg"):
        item = WorkItem.from_line(
            WorkItem("id-" + name, name, "e", refs[name].last_modified.isoformat()).to_line()
        )
        result, _, _ = read_item(store, item, PREP)
        assert isinstance(result, Decoded)
        results.append((item, result, 0.0, 0.0))
    batch = collate(results)
    assert [(t.at, t.source) for t in batch.taken] == [
        (datetime(2018, 1, 2, 3, 4, 5, tzinfo=UTC), "exif"),
        (MTIME, "modified"),
        (MTIME, "modified"),
    ]


def _catalog(taken: list[datetime | None], sources: list[str]) -> CatalogBatch:
    n = len(taken)
    vectors = np.eye(n, 4, dtype=np.float32)  # (N, 4)
    ids = [f"id{i}" for i in range(n)]
    return CatalogBatch(
        "folder:/x", ids, ids, ["e"] * n, ["c"] * n, [""] * n, np.zeros(n), "cap", "enc", vectors,
        None, taken, sources,
    )  # fmt: skip


def test_postgres_catalog_and_version_rows_keep_the_time(fresh_dsn: str) -> None:
    cest = timezone(timedelta(hours=2))
    taken = [datetime(2019, 7, 14, 18, 30, 5, 123456, tzinfo=cest), MTIME, None]
    conn = psycopg2.connect(fresh_dsn)
    register_vector(conn)
    try:
        write_catalog(conn, _catalog(taken, ["exif", "modified", ""]))
        write_catalog(conn, _catalog(taken, ["exif", "modified", ""]))  # a resumed batch: merged
        page = read_page(conn, "", 10)
        assert page.taken == taken and page.taken_from == ["exif", "modified", ""]
        rows = RowBatch(
            "v1", page.image_ids, page.names, page.captions, page.embeddings, np.zeros(3, dtype=np.int32),
            page.captioners, page.alternatives, page.tags, page.taken, page.taken_from,
        )  # fmt: skip
        insert_new_rows(conn, rows)
        with conn.cursor() as cur:
            cur.execute("SELECT taken, taken_from FROM images ORDER BY image_id")
            assert cur.fetchall() == list(zip(taken, ["exif", "modified", ""], strict=True))
    finally:
        conn.close()


def test_memory_writer_keeps_the_time() -> None:
    writer = MemoryWriter()
    writer.store_batch(_catalog([MTIME, None], ["modified", ""]), [], None)
    page = writer.catalog_page("", 10)
    assert (page.taken, page.taken_from) == ([MTIME, None], ["modified", ""])
