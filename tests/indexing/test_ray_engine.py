"""The Ray engine on a real two-node Ray cluster (two `ray start` processes on this machine): the catalog
it builds is the local engine's, and a worker node killed mid-run changes nothing."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import psycopg2
import pytest

from core.images import LocalFolderStore
from evaluation.text_pictures import make_text_pictures
from indexing.catalog import Skip
from indexing.memory import CatalogEntry, MemoryWriter
from indexing.ocr import Ocr
from indexing.ray_engine import RayOptions, ray_pipeline
from indexing.recipe import ModelRecipe
from indexing.report import RunSummary
from indexing.runner import AfterBatch, IndexOptions, pipeline, run_index
from indexing.settings import IndexSettings, SettingsError
from tests.conftest import PROJECT_ROOT
from tests.indexing.conftest import quiet_options
from tests.indexing.pipeline_helpers import cli_env, write_broken_files
from training.synthetic import make_shapes

pytest.importorskip("ray")

IMAGES = 120
EMBEDDING_TOLERANCE = 1e-5  # per component of a unit-length embedding
RAY = str(Path(sys.executable).with_name("ray"))
OBJECT_STORE = 200 * 2**20  # bytes of /dev/shm per node; a batch of decoded shapes is a few hundred KB


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports: every socket stays bound until all are chosen, since a port
    released at once may be handed out again by the next bind (two Ray components then collide)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"ray start exited with {process.returncode}:\n{tail}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"no Ray head on port {port} after {timeout} s")


@dataclass
class RayCluster:
    address: str
    head: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    logs: Path

    def kill_worker_node(self) -> None:
        """SIGKILL the worker node's whole process group: its raylet, object store and workers."""
        _kill_group(self.worker, signal.SIGKILL)


NODE_PORT_FLAGS = (
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--metrics-export-port",
    "--runtime-env-agent-port",
    "--node-manager-port",
    "--object-manager-port",
)


def _start_node(args: list[str], ports: list[int], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    own_ports = [
        str(part) for flag, port in zip(NODE_PORT_FLAGS, ports, strict=True) for part in (flag, port)
    ]
    with log.open("wb") as out:  # one process group per node, so that a node can be killed whole
        return subprocess.Popen(
            [
                RAY,
                "start",
                "--block",
                "--num-cpus",
                "1",
                "--object-store-memory",
                str(OBJECT_STORE),
                *own_ports,
                *args,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def _wait_for_nodes(address: str, count: int, timeout: float) -> None:
    import ray

    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    try:
        deadline = time.monotonic() + timeout
        while sum(node["Alive"] for node in ray.nodes()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} Ray nodes alive after {timeout} s")
            time.sleep(0.2)
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A head node and a worker node, one CPU each, as separate `ray start` process groups."""
    temp = Path(tempfile.mkdtemp(prefix="ray-"))  # short: Ray's socket paths must fit in 107 bytes
    # Without token authentication: a driver reads RAY_AUTH_MODE once, when ray is imported, and this
    # test's cluster lives for a minute on this machine; a real cluster keeps Ray's default (tokens).
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(PROJECT_ROOT)}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    # Every port of both nodes chosen at once, so that no two components are given the same one.
    port, dashboard, *node_ports = _free_ports(2 + 2 * len(NODE_PORT_FLAGS))
    head_ports, worker_ports = node_ports[: len(NODE_PORT_FLAGS)], node_ports[len(NODE_PORT_FLAGS) :]
    address = f"127.0.0.1:{port}"
    head_args = ["--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard=false"]
    head_args += ["--dashboard-port", str(dashboard)]  # its minimal head listens all the same
    head = _start_node(head_args, head_ports, temp / "head.log", env)
    worker: subprocess.Popen[bytes] | None = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        try:
            _wait_for_port(port, head, temp / "head.log", timeout=60)
            worker = _start_node(["--address", address], worker_ports, temp / "worker.log", env)
            _wait_for_nodes(address, 2, timeout=60)
            yield RayCluster(address, head, worker, temp)
        finally:  # SIGKILL: a graceful stop drains for up to 30 s, and nothing here needs keeping
            for process in (worker, head):
                if process is not None:
                    _kill_group(process, signal.SIGKILL)
            shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    images = tmp_path_factory.mktemp("ray-images")
    make_shapes(images, IMAGES)
    return images, write_broken_files(images)


def _index(
    images: Path,
    share: Path,
    recipe: ModelRecipe,
    encoder_dir: Path,
    options: IndexOptions,
    ray: RayOptions | None,
    after_batch: AfterBatch | None = None,
    ocr: Ocr | None = None,
) -> tuple[MemoryWriter, RunSummary, float]:
    writer = MemoryWriter()
    source = partial(LocalFolderStore, images)
    if ray is None:
        run = pipeline(source, writer, share, encoder_dir, recipe.load(), options, after_batch, ocr=ocr)
    else:
        run = ray_pipeline(source, writer, share, encoder_dir, recipe, options, ray, after_batch, ocr)
    started = time.perf_counter()
    summary = run_index(run, options)
    return writer, summary, time.perf_counter() - started


def _assert_same_catalog(ray: MemoryWriter, local: MemoryWriter, images: int = IMAGES) -> None:
    assert sorted(ray.catalog) == sorted(local.catalog) and len(local.catalog) == images
    for image_id, expected in local.catalog.items():
        found = ray.catalog[image_id]
        fields = ("name", "caption", "alternatives", "tags", "etag", "taken", "taken_from", "text_in_picture")
        assert [getattr(found, f) for f in fields] == [getattr(expected, f) for f in fields]
        assert np.abs(found.embedding - expected.embedding).max() <= EMBEDDING_TOLERANCE
        if expected.visual is None:
            assert found.visual is None
        else:
            assert found.visual is not None
            assert np.abs(found.visual - expected.visual).max() <= EMBEDDING_TOLERANCE * 10
    assert {i: (s.name, s.reason) for i, (_, s) in ray.skipped.items()} == {
        i: (s.name, s.reason) for i, (_, s) in local.skipped.items()
    }


@pytest.fixture(scope="module")
def local_index(
    shapes: tuple[Path, dict[str, str]],
    tiny_checkpoint: Path,
    encoder_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> MemoryWriter:
    writer, summary, seconds = _index(
        shapes[0],
        tmp_path_factory.mktemp("local-share"),
        ModelRecipe(tiny_checkpoint, threads=1),
        encoder_dir,
        quiet_options(),
        None,
    )
    print(f"local engine: {summary.indexed} images in {seconds:.1f} s")
    return writer


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INDEX_ENGINE": "spark"}, r"INDEX_ENGINE must be one of local, ray, got 'spark'"),
        ({"INDEX_RAY_ACTORS": "0"}, r"INDEX_RAY_ACTORS must be between 1 and 4096, got 0"),
    ],
)
def test_engine_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        IndexSettings.from_env(env)


def test_the_engine_is_local_unless_asked() -> None:
    assert IndexSettings.from_env({}).engine == "local"
    ray = IndexSettings.from_env({"INDEX_ENGINE": "ray", "RAY_ADDRESS": "head:6379"})
    assert (ray.engine, ray.ray_address, ray.ray_actors) == ("ray", "head:6379", 2)


RAY_OPTIONS = RayOptions(actors=2, actor_cpus=0.75, decode_cpus=0.25)  # one actor per one-CPU node


IndexOnRay = Callable[[AfterBatch | None], tuple[MemoryWriter, RunSummary, float]]


@pytest.fixture
def index_on_ray(
    ray_cluster: RayCluster,
    shapes: tuple[Path, dict[str, str]],
    tiny_checkpoint: Path,
    encoder_dir: Path,
    tmp_path: Path,
) -> IndexOnRay:
    """A run over ``shapes`` on the cluster, as the local reference's but for the engine."""
    recipe, ray = ModelRecipe(tiny_checkpoint, threads=1), replace(RAY_OPTIONS, address=ray_cluster.address)
    return partial(_index, shapes[0], tmp_path / "share", recipe, encoder_dir, quiet_options(), ray)


@pytest.mark.slow
def test_the_ray_engine_on_two_nodes_builds_the_local_engines_catalog(
    index_on_ray: IndexOnRay, shapes: tuple[Path, dict[str, str]], local_index: MemoryWriter
) -> None:
    writer, summary, seconds = index_on_ray(None)
    print(f"ray engine, two nodes: {summary.indexed} images in {seconds:.1f} s")
    assert summary.indexed == IMAGES and summary.seen == IMAGES + len(shapes[1])
    assert dict(summary.skipped) == {"empty": 1, "too_large": 1, "undecodable": 2}
    _assert_same_catalog(writer, local_index)


def _cli_env(
    dsn: str, share: Path, images: Path, checkpoint: Path, encoder_dir: Path, address: str
) -> dict[str, str]:
    """The command line's settings for the options of ``quiet_options``, mapping on the cluster."""
    return cli_env(
        dsn,
        share,
        images,
        checkpoint,
        encoder_dir,
        share.parent / "logs",
        INDEX_BATCH_SIZE="8",
        INDEX_WORKERS="0",
        INDEX_ENGINE="ray",
        RAY_ADDRESS=address,
        INDEX_RAY_ACTOR_CPUS=str(RAY_OPTIONS.actor_cpus),
    )


INDEX = [sys.executable, "-m", "indexing.cli", "index", "--no-progress", "--pca-dim", "8", "--clusters", "4"]


def _catalog(dsn: str) -> MemoryWriter:
    """The catalog a database holds, as a MemoryWriter's (for ``_assert_same_catalog``)."""
    writer = MemoryWriter()
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT image_id, location, name, etag, caption, alternatives, score, captioner, encoder,"
            " embedding::text, tags::text, taken, taken_from, text_in_picture, visual::text FROM catalog"
        )
        for row in cur.fetchall():
            embedding = np.array(json.loads(row[9]), dtype=np.float32)
            visual = None if row[14] is None else np.array(json.loads(row[14]), dtype=np.float32)
            tags = json.dumps(json.loads(row[10]))
            location, name, etag, caption, alternatives, score, captioner, encoder = row[1:9]
            taken, taken_from, text_in_picture = row[11:14]
            writer.catalog[row[0]] = CatalogEntry(
                location, name, etag, caption, alternatives, score, captioner, encoder, embedding, tags,
                taken, taken_from, text_in_picture, visual,
            )  # fmt: skip
        cur.execute("SELECT image_id, name, reason FROM skipped")
        for image_id, name, reason in cur.fetchall():
            writer.skipped[image_id] = ("", Skip(image_id, name, reason, ""))
    conn.close()
    return writer


@pytest.mark.slow
def test_the_ray_engines_decode_tasks_read_text_in_pictures_as_the_local_reader_does(
    ray_cluster: RayCluster, tiny_checkpoint: Path, encoder_dir: Path, tmp_path: Path
) -> None:
    """INDEX_OCR on the Ray engine: its decode tasks run the same OCR stage as the local read workers."""
    images = tmp_path / "images"
    make_shapes(images, 12)  # enough rows for quiet_options' PCA
    written = {p.name: p.words for p in make_text_pictures(images, 3, seed=21)}
    recipe = ModelRecipe(tiny_checkpoint, threads=1)
    ray = replace(RAY_OPTIONS, address=ray_cluster.address)
    local, _, _ = _index(images, tmp_path / "local", recipe, encoder_dir, quiet_options(), None, ocr=Ocr())
    on_ray, _, _ = _index(images, tmp_path / "ray", recipe, encoder_dir, quiet_options(), ray, ocr=Ocr())
    _assert_same_catalog(on_ray, local, images=15)
    read = {entry.name: entry.text_in_picture for entry in on_ray.catalog.values()}
    assert sum(read[name].lower() == words.lower() for name, words in written.items()) >= 2, read
    assert all(read[f"shape-{i:05d}.png"] == "" for i in range(12))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_driver_killed_mid_run_resumes_to_the_local_engines_catalog(
    ray_cluster: RayCluster,
    shapes: tuple[Path, dict[str, str]],
    local_index: MemoryWriter,
    tiny_checkpoint: Path,
    encoder_dir: Path,
    fresh_dsn: str,
    tmp_path: Path,
) -> None:
    """`indexing.cli index --engine ray` SIGKILLed once 2 batches were committed, then run again. The
    second run waits about 50 s for Ray to free the dead driver's actors (docs/indexing.md)."""
    env = _cli_env(
        fresh_dsn, tmp_path / "share", shapes[0], tiny_checkpoint, encoder_dir, ray_cluster.address
    )
    driver = subprocess.Popen(
        INDEX,
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while driver.poll() is None and len(_catalog(fresh_dsn).catalog) < 16:
            assert time.monotonic() < deadline, "the driver stored no 2 batches in 240 s"
            time.sleep(0.05)
    finally:
        _kill_group(driver, signal.SIGKILL)
    assert driver.returncode == -signal.SIGKILL
    assert 16 <= len(_catalog(fresh_dsn).catalog) < IMAGES  # killed mid-way, after some batches

    resumed = subprocess.run(INDEX, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "already indexed 0" not in resumed.stdout
    _assert_same_catalog(_catalog(fresh_dsn), local_index)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_worker_node_killed_mid_run_changes_nothing(
    index_on_ray: IndexOnRay, ray_cluster: RayCluster, local_index: MemoryWriter
) -> None:
    """Last in this file: the cluster keeps one node afterwards."""

    def kill_after_three(number: int) -> None:
        if number == 3:
            ray_cluster.kill_worker_node()

    writer, summary, seconds = index_on_ray(kill_after_three)
    print(f"ray engine, worker node killed after 3 batches: {summary.indexed} images in {seconds:.1f} s")
    assert ray_cluster.worker.poll() is not None  # the node really died mid-run
    assert summary.indexed == IMAGES
    _assert_same_catalog(writer, local_index)
