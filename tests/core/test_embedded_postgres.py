"""Stopping the embedded PostgreSQL copes with what a crash or a reboot leaves behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.database import stop_embedded_postgres


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_pid_file_is_not_a_running_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "postmaster.pid").write_text(f"{dead_pid()}\n{data}\n1700000000\n5432\n", encoding="utf-8")
    stop_embedded_postgres(data)  # pg_ctl would fail: "could not send stop signal ... No such process"
    assert (data / "postmaster.pid").exists()  # left for the caller, which removes the folder


def test_no_pid_file_or_garbage_means_nothing_to_stop(tmp_path: Path) -> None:
    stop_embedded_postgres(tmp_path / "never-started")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "postmaster.pid").write_text("not a pid\n", encoding="utf-8")
    stop_embedded_postgres(tmp_path / "garbage")
