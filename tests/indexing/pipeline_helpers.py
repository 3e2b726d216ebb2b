"""Helpers shared by the pipeline tests: a run, broken files, a database session, the state of an index."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from core.bundle import BundleError, current_version
from core.database import make_connector
from core.images import ImageStore
from indexing.report import RunSummary
from indexing.runner import AfterBatch, IndexOptions, Models, pipeline, run_index
from indexing.session import Database
from indexing.write import Writer


def database(dsn: str, attempts: int = 2) -> Database:
    return Database(make_connector(dsn), attempts=attempts, first_delay=0.01)


def index(
    open_source: Callable[[], ImageStore],
    writer: Writer,
    share: Path,
    encoder_dir: Path,
    models: Models,
    options: IndexOptions,
    after_batch: AfterBatch | None = None,
) -> RunSummary:
    """One run of the standard pipeline (the command line's, less its settings)."""
    run = pipeline(open_source, writer, share, encoder_dir, models, options, after_batch)
    return run_index(run, options)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels: a decompression bomb as far as a decoder knows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))

    ihdr = struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write_broken_files(folder: Path) -> dict[str, str]:
    """Files an indexer must skip, by name, with the reason it should give."""
    good_png = (folder / sorted(p.name for p in folder.glob("*.png"))[0]).read_bytes()
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(good_png[: len(good_png) // 3])
    (folder / "notes.jpg").write_text("these are my holiday notes, not a picture\n")
    (folder / "bomb.png").write_bytes(png_header_only(40_000, 40_000))
    return {
        "empty.png": "empty",
        "truncated.png": "undecodable",
        "notes.jpg": "undecodable",
        "bomb.png": "too_large",
    }


@dataclass(frozen=True)
class IndexState:
    active: str | None
    catalog: dict[str, tuple[str, str]]  # image_id -> (name, caption)
    rows: dict[str, int]  # image_id -> cluster id, in the active version
    clusters: int
    cluster_sizes: int  # sum of clusters.size of the active version
    versions: dict[str, int]


def index_state(dsn: str, share: Path) -> IndexState:
    try:
        active: str | None = current_version(share)
    except BundleError:
        active = None
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT image_id, name, caption FROM catalog")
        catalog = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
        cur.execute("SELECT image_id, cluster_id FROM images WHERE bundle_version = %s", (active,))
        rows = dict(cur.fetchall())
        cur.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM clusters WHERE bundle_version = %s", (active,)
        )
        clusters, sizes = cur.fetchone()
        cur.execute("SELECT bundle_version, count(*) FROM images GROUP BY 1")
        versions = dict(cur.fetchall())
    conn.close()
    return IndexState(active, catalog, rows, int(clusters), int(sizes), versions)


def cli_env(
    dsn: str, share: Path, images: Path, checkpoint: Path, encoder_dir: Path, logs: Path, **overrides: str
) -> dict[str, str]:
    """The environment of an ``indexing.cli`` subprocess over a folder of images with a small captioner;
    ``overrides`` add or replace settings (the engine, batch size, ...)."""
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": str(share),
        "IMAGE_STORE": "folder",
        "IMAGES_DIR": str(images),
        "CAPTIONER_CHECKPOINT": str(checkpoint),
        "ENCODER_DIR": str(encoder_dir),
        "INDEX_LOG_DIR": str(logs),
        "INDEX_WORKERS": "1",
        "INDEX_BATCH_SIZE": "2",
        "INDEX_MAX_LENGTH": "8",
        "INDEX_THREADS": "1",
        **overrides,
    }
