"""The command line as a user runs it: help for every command, and a run killed mid-way that resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from core.database import apply_schema
from indexing.cli import build_parser
from tests.conftest import PROJECT_ROOT, create_database
from tests.indexing.pipeline_helpers import index_state, write_broken_files
from training.synthetic import make_shapes


@pytest.mark.parametrize("command", ["index", "refit", "status", "prune"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: python -m indexing.cli {command}" in capsys.readouterr().out


def _env(
    dsn: str, share: Path, images: Path, checkpoint: Path, encoder_dir: Path, logs: Path
) -> dict[str, str]:
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
    }


INDEX = [sys.executable, "-m", "indexing.cli", "index", "--no-progress", "--pca-dim", "8", "--clusters", "4"]


def _count(dsn: str) -> int:
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM catalog")
        (n,) = cur.fetchone()
    conn.close()
    return int(n)


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_to_the_index_of_an_uninterrupted_run(
    pg_admin_dsn: str, tmp_path: Path, tiny_checkpoint: Path, encoder_dir: Path
) -> None:
    images = tmp_path / "images"
    make_shapes(images, 200)
    write_broken_files(images)
    total = 200

    reference_dsn, killed_dsn = create_database(pg_admin_dsn), create_database(pg_admin_dsn)
    conn = psycopg2.connect(killed_dsn)
    apply_schema(conn)  # so the test can watch the catalog grow from the start
    conn.close()
    reference_env = _env(
        reference_dsn, tmp_path / "ref-share", images, tiny_checkpoint, encoder_dir, tmp_path
    )
    done = subprocess.run(
        INDEX, env=reference_env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    assert "images seen 204, already indexed 0, indexed now 200" in done.stdout
    assert "skipped 4: 1 empty, 1 too_large, 2 undecodable" in done.stdout

    env = _env(killed_dsn, tmp_path / "share", images, tiny_checkpoint, encoder_dir, tmp_path)
    process = subprocess.Popen(
        INDEX, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if _count(killed_dsn) >= 20:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert 20 <= _count(killed_dsn) < total  # killed mid-way, after some batches were committed

    resumed = subprocess.run(INDEX, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "already indexed 0" not in resumed.stdout

    reference, final = (
        index_state(reference_dsn, tmp_path / "ref-share"),
        index_state(killed_dsn, tmp_path / "share"),
    )
    assert final.catalog == reference.catalog and len(final.catalog) == total
    assert final.rows == reference.rows  # same fit: same cluster for every image
    assert final.clusters == reference.clusters == 4 and final.cluster_sizes == total
    assert list(final.versions.values()) == [total]  # one version, no duplicates

    status = subprocess.run(
        [sys.executable, "-m", "indexing.cli", "status"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert status.returncode == 0, status.stderr
    assert f'"catalog_images": {total}' in status.stdout and '"too_large": 1' in status.stdout


def test_index_without_a_checkpoint_fails_naming_the_setting(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "CAPTIONER_CHECKPOINT": ""}
    result = subprocess.run(
        [sys.executable, "-m", "indexing.cli", "index"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "error: CAPTIONER_CHECKPOINT is not set (or pass --checkpoint): index needs a captioner"
    )
