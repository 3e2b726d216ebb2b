from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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
