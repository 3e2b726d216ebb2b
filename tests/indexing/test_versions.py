"""The version builder on captioned images in memory: what it writes, in pages, and what it refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg2
import pytest

from core.bundle import load_bundle
from core.space import normalize_rows
from indexing.memory import MemoryWriter
from indexing.report import RunSummary
from indexing.session import IndexingError
from indexing.store import RowBatch, version_row_counts
from indexing.versions import CaptionedImage, FitOptions, ImageRows, build_index, build_version


@dataclass
class PagedWriter(MemoryWriter):
    pages: list[int] = field(default_factory=list)  # rows per insert_version_rows call

    def insert_version_rows(self, batch: RowBatch) -> int:
        self.pages.append(len(batch))
        return super().insert_version_rows(batch)


def _images(count: int) -> tuple[list[CaptionedImage], np.ndarray]:
    images = [
        CaptionedImage(f"id{i:02d}", f"{i}.png", f"caption {i}", "c", (f"other {i}",)) for i in range(count)
    ]
    rng = np.random.default_rng(0)
    return images, normalize_rows(rng.normal(size=(count, 384)).astype(np.float32))  # (N, D)


def test_every_row_is_written_page_by_page_then_the_bundle_is_published(
    tmp_path: Path, encoder_dir: Path
) -> None:
    images, embeddings = _images(7)
    writer = PagedWriter()
    options = FitOptions(pca_dim=3, clusters=2, show_progress=False, vector_index=None)

    version = build_version(
        ImageRows(images, embeddings, page_rows=3),
        writer,
        tmp_path,
        encoder_dir,
        options,
        RunSummary("build"),
    )
    assert writer.pages == [3, 3, 1]
    assert load_bundle(tmp_path).version == version and not writer.vector_indexes
    rows = writer.rows[version]
    assert sorted(rows) == [image.image_id for image in images]
    assert (rows["id04"].caption, rows["id04"].alternatives, rows["id04"].captioner) == (
        "caption 4",
        "other 4",
        "c",
    )
    assert rows["id04"].embedding.shape == (3,) and sum(writer.cluster_sizes[version]) == 7


def test_the_builder_refuses_what_it_cannot_fit(tmp_path: Path, encoder_dir: Path) -> None:
    images, embeddings = _images(2)
    with pytest.raises(ValueError, match="^1 embeddings for 2 images$"):
        ImageRows(images, embeddings[:1])
    with pytest.raises(
        IndexingError, match=r"^cannot fit a search space on 1 captioned image\(s\); index at least 2$"
    ):
        build_version(
            ImageRows(images[:1], embeddings[:1]),
            MemoryWriter(),
            tmp_path,
            encoder_dir,
            FitOptions(),
            RunSummary("build"),
        )


def test_build_index_on_a_plain_connection_writes_through_the_same_builder(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path
) -> None:
    images, embeddings = _images(6)
    conn = psycopg2.connect(fresh_dsn)
    version = build_index(
        images,
        conn=conn,
        share=tmp_path,
        encoder_dir=encoder_dir,
        pca_dim=3,
        clusters=2,
        embeddings=embeddings,
        vector_index="hnsw",
    )
    assert version_row_counts(conn) == {version: 6} and load_bundle(tmp_path).version == version
    with conn.cursor() as cur:
        cur.execute("SELECT sum(size) FROM clusters WHERE bundle_version = %s", (version,))
        assert cur.fetchone() == (6,)
        cur.execute("SELECT count(*) FROM pg_indexes WHERE indexdef LIKE %s", ("%USING hnsw%",))
        assert cur.fetchone() == (1,)
    with pytest.raises(ValueError, match="^cannot build an index from zero images$"):
        build_index([], conn=conn, share=tmp_path, encoder_dir=encoder_dir)
    conn.close()
