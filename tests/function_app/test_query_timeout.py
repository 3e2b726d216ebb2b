"""Row 5 of issue 18: a database that stops answering gives 503s with Retry-After in bounded time.

Before, requests on pooled connections hung for the whole freeze (20-25 s) and others waited 3-12 s.
Two ways a real PostgreSQL stops answering: a lock held by another session (the server is alive and
cancels the statement at statement_timeout), and a frozen server (SIGSTOP: nothing answers, so this
side cuts the connection).
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg2
import pytest
from fastapi.testclient import TestClient

from core.database import start_embedded_postgres
from function_app.api import create_api
from function_app.settings import POOL_WAIT_SECONDS, QUERY_TIMEOUT_SECONDS, Settings
from indexing.versions import CaptionedImage, build_index
from tests.function_app.conftest import make_settings
from tests.function_app.serving import served

TIMEOUTS = {"SEARCH_QUERY_TIMEOUT_SECONDS": "0.5", "SEARCH_POOL_WAIT_SECONDS": "0.5"}


def test_the_timeouts_have_defaults_and_are_checked(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://x", "MODEL_SHARE_PATH": str(tmp_path)}
    default = Settings.from_env(env)
    assert (default.query_timeout_seconds, default.pool_wait_seconds) == (2.0, 2.0)
    assert (QUERY_TIMEOUT_SECONDS, POOL_WAIT_SECONDS) == (2.0, 2.0)
    with pytest.raises(ValueError, match="SEARCH_QUERY_TIMEOUT_SECONDS must be between 0.01 and 600, got 0"):
        Settings.from_env({**env, "SEARCH_QUERY_TIMEOUT_SECONDS": "0"})


# Room for a loaded 2-core runner: these bound a hang (before the timeouts a frozen server held requests
# for its whole freeze, 20-25 s), they do not time the service.
SLACK_SECONDS = 3.0


def _search(base: str) -> tuple[int, float, httpx.Response]:
    started = time.monotonic()
    response = httpx.get(f"{base}/api/search", params={"q": "a dog on a beach"}, timeout=30)
    return response.status_code, time.monotonic() - started, response


def test_a_locked_table_gives_503s_within_the_timeouts_then_recovers(
    indexed: tuple[str, Path, str], images_dir: Path
) -> None:
    dsn, share, _ = indexed
    app = create_api(make_settings(dsn, share, images_dir, **TIMEOUTS))
    with served(app) as (host, port):
        base = f"http://{host}:{port}"
        assert _search(base)[0] == 200  # bundle loaded, one pooled connection open
        locker = psycopg2.connect(dsn)
        try:
            with locker.cursor() as cur:
                cur.execute("LOCK TABLE images IN ACCESS EXCLUSIVE MODE")
            with ThreadPoolExecutor(10) as pool:
                answers = list(pool.map(lambda _: _search(base), range(10)))
        finally:
            locker.rollback()
            locker.close()
        for status, seconds, response in answers:
            assert status == 503
            assert response.headers["retry-after"] == "5"
            assert response.json()["error"]["message"] in {
                "the search database is unavailable: the database did not answer within 0.5 s",
                "the search database is unavailable: no database connection became free within 0.5 s",
            }
            # the wait for a connection, a new connection, then the statement timeout, and slack for a
            # loaded runner (a hang would last as long as the lock)
            assert seconds < 0.5 + 0.5 + 1.0 + SLACK_SECONDS, seconds
        assert _search(base)[0] == 200  # the pooled connections were kept and work again


def _server_processes(data_dir: Path) -> list[int]:
    """The postmaster of ``data_dir`` and all its children."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


def test_a_frozen_server_gives_503s_within_the_timeouts_then_recovers(
    own_server: Path, tmp_path: Path, encoder_dir: Path
) -> None:
    dsn = start_embedded_postgres(own_server)
    conn = psycopg2.connect(dsn)
    images = [CaptionedImage(f"i{i}", f"{i}.png", t) for i, t in enumerate(["a red car", "a blue boat"] * 4)]
    build_index(images, conn=conn, share=tmp_path, encoder_dir=encoder_dir, pca_dim=4, clusters=2)
    conn.close()
    client = TestClient(create_api(make_settings(dsn, tmp_path, tmp_path, **TIMEOUTS)))
    assert client.get("/api/search", params={"q": "a car"}).status_code == 200

    frozen = _server_processes(own_server)
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        on_pooled = client.get("/api/search", params={"q": "a car"})
        pooled_seconds = time.monotonic() - started
        started = time.monotonic()
        on_new = client.get("/api/search", params={"q": "a car"})
        new_seconds = time.monotonic() - started
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert on_pooled.status_code == 503
    assert on_pooled.json()["error"]["message"] == (
        "the search database is unavailable: the database did not answer within 0.5 s; the connection was cut"
    )
    assert pooled_seconds < 0.5 + 0.5 + SLACK_SECONDS, pooled_seconds  # the timeout, the cut, slack
    assert on_new.status_code == 503  # no pooled connection left: a new one times out connecting (3 s)
    assert on_new.headers["retry-after"] == "5"
    assert on_new.json()["error"]["message"].startswith("the search database is unavailable: cannot connect")
    assert new_seconds < 3 + 0.5 + SLACK_SECONDS, new_seconds
    up = client.get("/api/search", params={"q": "a car", "k": 1})
    assert up.status_code == 200
    assert up.json()["results"][0]["caption"] == "a red car"
