"""The database goes away and comes back: 503 with a message while it is down, answers again after."""

from __future__ import annotations

from pathlib import Path

import psycopg2
from fastapi.testclient import TestClient

from core.database import start_embedded_postgres, stop_embedded_postgres
from function_app.api import create_api
from indexing.versions import CaptionedImage, build_index
from tests.function_app.conftest import make_settings


def test_database_down_is_a_503_and_the_next_request_after_recovery_succeeds(
    own_server: Path, tmp_path: Path, encoder_dir: Path
) -> None:
    dsn = start_embedded_postgres(own_server)
    conn = psycopg2.connect(dsn)
    images = [
        CaptionedImage(f"i{i}", f"{i}.png", text) for i, text in enumerate(["a red car", "a blue boat"] * 4)
    ]
    build_index(images, conn=conn, share=tmp_path, encoder_dir=encoder_dir, pca_dim=4, clusters=2)
    conn.close()
    client = TestClient(create_api(make_settings(dsn, tmp_path, tmp_path)))
    assert client.get("/api/search", params={"q": "a car"}).status_code == 200

    stop_embedded_postgres(own_server)
    down = client.get("/api/search", params={"q": "a car"})
    assert down.status_code == 503
    assert down.json()["error"]["message"].startswith("the search database is unavailable: ")
    assert "Traceback" not in down.text
    health = client.get("/api/health")
    assert health.status_code == 503
    assert health.json()["database"]["reachable"] is False

    assert start_embedded_postgres(own_server) == dsn
    up = client.get("/api/search", params={"q": "a car", "k": 1})
    assert up.status_code == 200
    assert up.json()["results"][0]["caption"] == "a red car"
    assert client.get("/api/health").status_code == 200
