"""The command line as a user runs it: help for every command, and a run killed mid-way that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg2
import pytest

from core.bundle import bundles_root, current_version
from core.database import apply_schema
from core.vector_index import METHODS, vector_index_name
from indexing.cli import build_parser
from tests.conftest import PROJECT_ROOT, create_database
from tests.indexing.pipeline_helpers import cli_env, index_state, write_broken_files
from training.synthetic import make_shapes


@pytest.mark.parametrize("command", ["index", "refit", "status", "prune", "drain-queue"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: python -m indexing.cli {command}" in capsys.readouterr().out


INDEX = [sys.executable, "-m", "indexing.cli", "index", "--no-progress", "--pca-dim", "8", "--clusters", "4"]


RESUME_TOLERANCE = 1e-4  # per component of a unit-length embedding, resumed run against uninterrupted


def _embeddings(dsn: str, table: str) -> dict[str, np.ndarray]:
    """image_id -> embedding, of the catalog (full dimension) or of images (the reduced space)."""
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(f"SELECT image_id, embedding::text FROM {table}")  # table: one of two literals
        found = {image_id: np.array(json.loads(text), dtype=np.float32) for image_id, text in cur.fetchall()}
    conn.close()
    return found


def _neighbours(dsn: str, k: int = 10) -> dict[str, list[str]]:
    """Every image's ``k`` nearest images by cosine in the reduced space: the order search ranks in.
    Scores are rounded to 1e-3 first, so images whose captions (and so embeddings) are the same stay
    tied and sort by id, whichever last bit the resumed run gave them."""
    rows = _embeddings(dsn, "images")
    ids = sorted(rows)
    vectors = np.stack([rows[i] for i in ids])  # (N, d)
    scores = np.round(vectors @ vectors.T, 3)  # (N, N)
    order = np.lexsort((np.arange(len(ids))[None, :].repeat(len(ids), 0), -scores), axis=1)
    return {image_id: [ids[j] for j in order[row, 1 : k + 1]] for row, image_id in enumerate(ids)}


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
    reference_env = cli_env(
        reference_dsn, tmp_path / "ref-share", images, tiny_checkpoint, encoder_dir, tmp_path
    )
    done = subprocess.run(
        INDEX, env=reference_env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    assert "images seen 204, already indexed 0, indexed now 200" in done.stdout
    assert "skipped 4: 1 empty, 1 too_large, 2 undecodable" in done.stdout

    env = cli_env(killed_dsn, tmp_path / "share", images, tiny_checkpoint, encoder_dir, tmp_path)
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

    # Not bit-identical: the backbone's convolutions round differently with the batch size, and a
    # resumed run batches the rest differently. The stated tolerance (docs/indexing.md, "Resuming"):
    for table in ("catalog", "images"):
        ref, got = _embeddings(reference_dsn, table), _embeddings(killed_dsn, table)
        assert ref.keys() == got.keys()
        worst = max(float(np.abs(ref[k] - got[k]).max()) for k in ref)
        print(f"{table}: largest difference from the uninterrupted run {worst:.2e}")
        assert worst <= RESUME_TOLERANCE
    assert _neighbours(killed_dsn) == _neighbours(reference_dsn)  # every image's nearest 10, in order

    status = _status(env)
    assert status["catalog_images"] == total and status["skipped"]["too_large"] == 1


# The CLI with a SIGKILL at one exact point of publishing: once the bundle's files are written into its
# staging folder, before it is renamed into place. Rows, centroids and the ANN index are stored by then.
KILLED_WHILE_PUBLISHING = [
    sys.executable,
    "-c",
    "import os, signal, sys; import core.bundle; from indexing.cli import main; "
    "core.bundle._fsync_tree = lambda folder: os.kill(os.getpid(), signal.SIGKILL); sys.exit(main())",
]


def _versions(dsn: str) -> tuple[dict[str, int], set[str], set[str]]:
    """Rows per version, the versions with clusters, and the names of every ANN index on images."""
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT bundle_version, count(*) FROM images GROUP BY 1")
        rows = {str(v): int(n) for v, n in cur.fetchall()}
        cur.execute("SELECT DISTINCT bundle_version FROM clusters")
        clusters = {str(v) for (v,) in cur.fetchall()}
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'images'")
        indexes = {str(name) for (name,) in cur.fetchall()}
    conn.close()
    return rows, clusters, indexes


def _status(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "indexing.cli", "status"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.slow
def test_a_build_killed_while_publishing_is_cleaned_up_by_the_next_run(
    fresh_dsn: str, tmp_path: Path, tiny_checkpoint: Path, encoder_dir: Path
) -> None:
    images, share = tmp_path / "images", tmp_path / "share"
    make_shapes(images, 24)
    env = cli_env(fresh_dsn, share, images, tiny_checkpoint, encoder_dir, tmp_path)
    fit = ["--no-progress", "--pca-dim", "8", "--clusters", "4"]

    killed = subprocess.run([*KILLED_WHILE_PUBLISHING, "index", *fit], env=env, cwd=PROJECT_ROOT, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    rows, clusters, indexes = _versions(fresh_dsn)
    (orphan,) = rows
    assert rows == {orphan: 24} and clusters == {orphan}
    assert vector_index_name(orphan, "ivfflat") in indexes
    assert [p.name.startswith(f".incoming-{orphan}-") for p in bundles_root(share).iterdir()] == [True]
    status = _status(env)
    assert status["active_bundle"] is None
    assert status["versions"] == {orphan: {"rows": 24, "state": "unpublished", "vector_storage": None}}
    assert len(status["staging_folders"]) == 1

    resumed = subprocess.run(INDEX, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "already indexed 24, indexed now 0" in resumed.stdout
    assert f"removed versions a killed run left unpublished: {orphan}" in resumed.stdout
    active = current_version(share)
    rows, clusters, indexes = _versions(fresh_dsn)
    assert rows == {active: 24} and clusters == {active} and active != orphan
    assert not {vector_index_name(orphan, method) for method in METHODS} & indexes
    assert sorted(p.name for p in bundles_root(share).iterdir()) == sorted(["CURRENT", active])
    status = _status(env)
    assert status["versions"] == {active: {"rows": 24, "state": "active", "vector_storage": "vector"}}
    assert not status["staging_folders"]

    # A refit killed the same way beside an active version: the next index run removes only its leftovers.
    killed = subprocess.run([*KILLED_WHILE_PUBLISHING, "refit", *fit], env=env, cwd=PROJECT_ROOT, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    (refit_orphan,) = set(_versions(fresh_dsn)[0]) - {active}
    assert _status(env)["versions"] == {
        active: {"rows": 24, "state": "active", "vector_storage": "vector"},
        refit_orphan: {"rows": 24, "state": "unpublished", "vector_storage": None},
    }
    again = subprocess.run(INDEX, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"index: bundle {active}\n" in again.stdout and refit_orphan in again.stdout
    assert _versions(fresh_dsn)[:2] == ({active: 24}, {active}) and current_version(share) == active
    assert sorted(p.name for p in bundles_root(share).iterdir()) == sorted(["CURRENT", active])


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


def test_status_answers_while_an_indexing_run_holds_the_writer_lock(fresh_dsn: str, tmp_path: Path) -> None:
    from indexing.session import Database

    env = {**os.environ, "DATABASE_URL": fresh_dsn, "MODEL_SHARE_PATH": str(tmp_path / "share")}
    writer = Database(lambda: psycopg2.connect(fresh_dsn), lock_wait=0.0)
    try:
        writer.run("holding the lock as a run does", lambda conn: None)  # its session keeps the lock
        started = time.monotonic()
        report = _status(env)
        assert time.monotonic() - started < 20  # a writer would wait 30 s for the lock, then fail
        assert report["catalog_images"] == 0 and report["versions"] == {}
        second = Database(lambda: psycopg2.connect(fresh_dsn), lock_wait=0.0)
        with pytest.raises(Exception, match="another indexing run is writing"):
            second.run("a second writer", lambda conn: None)  # writers still exclude each other
    finally:
        writer.close()
