from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from fastapi.testclient import TestClient

from core.database import stop_embedded_postgres
from function_app.api import create_api
from function_app.settings import Settings


def make_settings(dsn: str, share: Path, images_dir: Path, **extra: str) -> Settings:
    env = {
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": str(share),
        "IMAGE_STORE": "folder",
        "IMAGES_DIR": str(images_dir),
        "BUNDLE_CHECK_SECONDS": "0",
        **extra,
    }
    return Settings.from_env(env)


def grow(dsn: str, version: str, copies: int) -> None:
    """Write ``copies`` more rows into ``version`` after it was published, as an incremental run does."""
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO images (bundle_version, image_id, name, caption, alternatives, embedding, "
            "cluster_id) SELECT bundle_version, image_id || '-copy', name, caption, alternatives, "
            "embedding, cluster_id FROM images WHERE bundle_version = %s ORDER BY image_id LIMIT %s",
            (version, copies),
        )
    conn.commit()
    conn.close()


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    (folder / "photos").mkdir()
    (folder / "photos" / "img0000.png").write_bytes(b"\x89PNG\r\n\x1a\nnot-really")
    return folder


@pytest.fixture(scope="module")
def client(indexed: tuple[str, Path, str], images_dir: Path) -> TestClient:
    dsn, share, _ = indexed
    return TestClient(create_api(make_settings(dsn, share, images_dir)))


@pytest.fixture
def own_server() -> Iterator[Path]:
    """The data folder of a PostgreSQL server of this test's own, for tests that stop or freeze it."""
    folder = Path(tempfile.mkdtemp(prefix="caption-search-own-pg-"))
    try:
        yield folder / "data"
    finally:
        stop_embedded_postgres(folder / "data")
        shutil.rmtree(folder, ignore_errors=True)
