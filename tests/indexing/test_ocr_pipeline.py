"""The OCR stage in a run: the words read in each picture are stored in the catalog and the version's
rows, and join the text that full-text search matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg2

from core.images import LocalFolderStore
from evaluation.text_pictures import make_text_pictures
from function_app.index_reader import text_ranks
from indexing import loaders
from indexing.memory import MemoryWriter
from indexing.ocr import Ocr
from indexing.runner import Models, pipeline, run_index
from indexing.write import PostgresWriter
from tests.indexing.conftest import quiet_options
from tests.indexing.pipeline_helpers import database
from training.synthetic import make_shapes


def _rows(dsn: str, query: str) -> dict[str, tuple[str, ...]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return {str(row[0]): tuple(row[1:]) for row in cur.fetchall()}
    finally:
        conn.close()


def test_a_run_with_ocr_stores_the_words_of_each_picture_where_search_reads_them(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path, tiny_models: Models
) -> None:
    images, share = tmp_path / "images", tmp_path / "share"
    make_shapes(images, 6)
    written = {p.name: p.words for p in make_text_pictures(images, 2, seed=11)}
    writer = PostgresWriter(database(fresh_dsn))
    options = quiet_options()

    def run() -> str | None:
        ran = pipeline(
            lambda: LocalFolderStore(images), writer, share, encoder_dir, tiny_models, options, ocr=Ocr()
        )
        return run_index(ran, options).bundle_version

    version = run()  # the first run: the catalog, then a version fitted from it
    (images / "later").mkdir()
    written |= {f"later/{p.name}": p.words for p in make_text_pictures(images / "later", 1, seed=12)}
    assert run() == version  # the next run adds its rows to the active version

    catalog = _rows(fresh_dsn, "SELECT name, text_in_picture FROM catalog")
    rows = _rows(fresh_dsn, "SELECT name, text_in_picture, image_id FROM images")
    assert len(catalog) == len(rows) == 9
    for name, words in written.items():
        assert catalog[name][0].lower() == words.lower(), name
        assert rows[name][0] == catalog[name][0]
    assert all(catalog[f"shape-{i:05d}.png"] == ("",) for i in range(6))  # drawn shapes: no words

    name = next(iter(written))
    word = written[name].split()[-1].lower()
    conn = psycopg2.connect(fresh_dsn)
    try:
        ranks = text_ranks(conn, str(version), word, [image_id for *_, image_id in rows.values()])
    finally:
        conn.close()
    assert list(ranks) == [rows[name][1]]  # only the picture with the word in it matches


def test_the_words_read_pull_a_pictures_embedding_towards_them_and_without_the_stage_nothing_is_read(
    tmp_path: Path, encoder_dir: Path, tiny_models: Models
) -> None:
    images = tmp_path / "images"
    made = make_text_pictures(images, 2, seed=11)
    make_shapes(images, 8)
    options = quiet_options()
    catalogs = {}
    for ocr in (None, Ocr()):
        writer = MemoryWriter()
        ran = pipeline(
            lambda: LocalFolderStore(images),
            writer,
            tmp_path / f"share-{ocr}",
            encoder_dir,
            tiny_models,
            options,
            ocr=ocr,
        )
        assert run_index(ran, options).bundle_version is not None
        catalogs[ocr is not None] = {entry.name: entry for entry in writer.catalog.values()}
    assert [e.text_in_picture for e in catalogs[False].values()] == [""] * 10
    words = loaders.onnx_encoder(encoder_dir).encode([made[0].words])[0]  # (D,)
    without, with_text = catalogs[False][made[0].name], catalogs[True][made[0].name]
    assert with_text.text_in_picture.lower() == made[0].words.lower()
    assert float(with_text.embedding @ words) > float(without.embedding @ words) + 0.1
    shape = "shape-00000.png"  # nothing read: its embedding is the same either way
    assert np.allclose(catalogs[True][shape].embedding, catalogs[False][shape].embedding, atol=1e-4)
