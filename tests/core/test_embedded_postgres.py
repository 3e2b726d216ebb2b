"""Stopping the embedded PostgreSQL copes with what a crash or a reboot leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pgserver
import pytest

from core.database import stop_embedded_postgres


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
