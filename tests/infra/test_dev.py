"""The `dev` script's choices on machines unlike this one (GitHub's Ubuntu runners): torch from the
PyTorch CPU wheel index, and a real browser rather than Ubuntu's snap shim. Each test runs the script's
own function in bash, against fake executables on a PATH of the test's making."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "dev"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BASH = shutil.which("bash") or "/bin/bash"


def run_function(name: str, env: dict[str, str], *, path: str | None = None) -> str:
    """Define every function of `dev` (not its command dispatch) and call ``name``; its stdout."""
    text = DEV.read_text()
    definitions = text[: text.index('case "${1:-}" in')]
    script = f"{definitions}\n{name}\n"
    environment = {"PATH": path or os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    done = subprocess.run(
        [BASH, "-c", script, "dev"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def tools(folder: Path) -> Path:
    """A folder with only the commands find_browser uses besides the browsers."""
    folder.mkdir()
    for name in ("dirname", "readlink", "timeout"):
        (folder / name).symlink_to(shutil.which(name) or f"/usr/bin/{name}")
    return folder


def executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(("setting", "chosen"), [(CPU_INDEX, CPU_INDEX), ("", "")])
def test_torch_index_follows_the_switch_that_ci_sets(setting: str, chosen: str) -> None:
    assert run_function("torch_index", {"TORCH_INDEX_URL": setting}) == chosen


def test_setup_installs_torch_from_the_chosen_index_with_the_default_index_as_extra() -> None:
    text = DEV.read_text()
    assert f"TORCH_CPU_INDEX={CPU_INDEX}" in text
    assert 'pip install -q torch==2.13.0 --index-url "$index" \\\n      --extra-index-url' in text


def test_the_browser_skips_a_snap_and_a_shim_and_takes_chrome(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    snap = executable(tmp_path / "usr" / "bin" / "snap", 'echo "Chromium 1 snap"')
    bin_dir.mkdir()
    (bin_dir / "chromium").symlink_to(snap)  # what the chromium snap puts on the PATH
    executable(bin_dir / "google-chrome-stable", 'echo "Command requires the snap" >&2; exit 1')  # a shim
    chrome = executable(bin_dir / "google-chrome", 'echo "Google Chrome 140"')
    path = f"{bin_dir}:{tools(tmp_path / 'tools')}"
    chosen = run_function("find_browser", {"PY": str(tmp_path / "no-venv")}, path=path)
    assert chosen == str(chrome)


def test_the_browser_prefers_chromium_setting_and_else_reports_none(tmp_path: Path) -> None:
    own = executable(tmp_path / "own" / "chrome", 'echo "Chromium 150"')
    path = str(tools(tmp_path / "tools"))
    assert run_function("find_browser", {"CHROMIUM": str(own), "PY": "/nonexistent"}, path=path) == str(own)
    assert run_function("find_browser", {"PY": "/nonexistent"}, path=path) == ""


def test_dev_test_hands_the_browser_to_the_tests() -> None:
    text = DEV.read_text()
    test_command = text[text.index("  test)") :]
    assert "CHROMIUM=$(find_browser)" in test_command
    assert "export CHROMIUM" in test_command
    assert test_command.index("export CHROMIUM") < test_command.index('"$PY" -m pytest')
