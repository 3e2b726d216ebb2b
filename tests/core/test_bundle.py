import errno
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core import bundle as bundle_module
from core.bundle import BundleError, BundleWriteError, current_version, load_bundle, write_bundle


def _write(share: Path, encoder: Path, version: str | None = None, dim: int = 8, **extra: Any) -> str:
    rng = np.random.default_rng(0)
    return write_bundle(
        share,
        encoder_dir=encoder,
        encoder_info={"id": "test-encoder", "dim": 16},
        pca_mean=rng.normal(size=16),
        pca_components=rng.normal(size=(dim, 16)),
        centroids=rng.normal(size=(4, dim)),
        version=version,
        **extra,
    )


@pytest.fixture
def fake_encoder_files(tmp_path: Path) -> Path:
    folder = tmp_path / "encoder-src"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"\x08\x01" * 100)
    (folder / "encoder.json").write_text('{"dim": 16}')
    return folder


def test_round_trip_and_manifest(tmp_path: Path, fake_encoder_files: Path) -> None:
    share = tmp_path / "share"
    version = _write(share, fake_encoder_files)
    assert current_version(share) == version
    loaded = load_bundle(share)
    assert loaded.version == version
    assert (loaded.input_dim, loaded.reduced_dim, loaded.cluster_count) == (16, 8, 4)
    manifest = loaded.manifest
    assert manifest["encoder"]["id"] == "test-encoder"
    assert "numpy" in manifest["libraries"]
    assert set(manifest["files"]) == {
        "encoder/model.onnx",
        "encoder/encoder.json",
        "projection.npz",
        "centroids.npy",
    }
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"].values())


def test_missing_pointer_says_to_build_an_index(tmp_path: Path) -> None:
    with pytest.raises(
        BundleError, match=r"no search bundle at .*CURRENT is missing \(build an index first\)"
    ):
        load_bundle(tmp_path)


def test_missing_file_is_named(tmp_path: Path, fake_encoder_files: Path) -> None:
    version = _write(tmp_path, fake_encoder_files)
    (tmp_path / "bundles" / version / "centroids.npy").unlink()
    with pytest.raises(BundleError, match=f"bundle {version}: centroids.npy is missing"):
        load_bundle(tmp_path)


def test_corrupted_file_fails_its_checksum(tmp_path: Path, fake_encoder_files: Path) -> None:
    version = _write(tmp_path, fake_encoder_files)
    target = tmp_path / "bundles" / version / "encoder" / "model.onnx"
    data = bytearray(target.read_bytes())
    data[10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch for encoder/model.onnx"):
        load_bundle(tmp_path)


def test_manifest_shape_mismatch_is_reported(tmp_path: Path, fake_encoder_files: Path) -> None:
    version = _write(tmp_path, fake_encoder_files)
    manifest_path = tmp_path / "bundles" / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["clusters"]["count"] = 5
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"centroids \(4, 8\) do not match the manifest \(5, 8\)"):
        load_bundle(tmp_path)


def test_arrays_are_never_unpickled(tmp_path: Path, fake_encoder_files: Path) -> None:
    version = _write(tmp_path, fake_encoder_files)
    folder = tmp_path / "bundles" / version
    np.save(folder / "centroids.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BundleError):
        load_bundle(tmp_path, verify_checksums=False)


def test_disk_full_keeps_the_active_bundle_and_leaves_no_partial_folder(
    tmp_path: Path, fake_encoder_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _write(tmp_path, fake_encoder_files)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bundle_module.np, "save", full_disk)
    with pytest.raises(BundleWriteError, match="No space left on device; the active bundle is unchanged"):
        _write(tmp_path, fake_encoder_files)
    assert current_version(tmp_path) == first
    assert load_bundle(tmp_path).version == first
    assert sorted(p.name for p in (tmp_path / "bundles").iterdir()) == sorted(["CURRENT", first])


def test_new_version_becomes_current_only_when_complete(tmp_path: Path, fake_encoder_files: Path) -> None:
    first = _write(tmp_path, fake_encoder_files, version="v1")
    second = _write(tmp_path, fake_encoder_files, version="v2")
    assert (first, second) == ("v1", "v2")
    assert current_version(tmp_path) == "v2"
    with pytest.raises(BundleWriteError, match="bundle version v2 already exists"):
        _write(tmp_path, fake_encoder_files, version="v2")
    shutil.rmtree(tmp_path / "bundles" / "v1")
    assert load_bundle(tmp_path).version == "v2"


GATE = {
    "answer_margin": 0.12,
    "min_similarity": 0.3,
    "answer_quantile": 0.95,
    "floor_quantile": 0.5,
    "probes": 3,
    "rows": 40,
}


def _write_with_gate(share: Path, encoder: Path, gate: object, probes: np.ndarray | None) -> str:
    return _write(share, encoder, extra={"gate": gate}, probes=probes)


def test_the_calibrated_gate_and_its_probes_are_read_back(tmp_path: Path, fake_encoder_files: Path) -> None:
    probes = np.eye(3, 8, dtype=np.float32)
    _write_with_gate(tmp_path, fake_encoder_files, GATE, probes)
    loaded = load_bundle(tmp_path)
    assert loaded.gate is not None and loaded.gate.to_manifest() == GATE
    assert loaded.probes is not None and np.array_equal(loaded.probes, probes)
    assert "probes.npy" in loaded.manifest["files"]


def test_a_bundle_published_before_calibration_has_no_gate(tmp_path: Path, fake_encoder_files: Path) -> None:
    _write(tmp_path, fake_encoder_files)
    loaded = load_bundle(tmp_path)
    assert loaded.gate is None and loaded.probes is None


@pytest.mark.parametrize(
    ("gate", "probes", "message"),
    [
        ({k: v for k, v in GATE.items() if k != "probes"}, (3, 8), r"gate is malformed \('probes'\)"),
        (
            {**GATE, "min_similarity": 1.5},
            (3, 8),
            r"gate is malformed \(margin 0.12 or floor 1.5 out of range\)",
        ),
        ({**GATE, "answer_margin": "high"}, (3, 8), r"gate is malformed"),
        ([0.6, 0.3], (3, 8), r"gate is malformed"),
        (GATE, None, r"gate's probes None are not \(P, 8\)"),
    ],
)
def test_a_malformed_gate_is_a_bundle_error(
    tmp_path: Path, fake_encoder_files: Path, gate: object, probes: tuple[int, int] | None, message: str
) -> None:
    vectors = None if probes is None else np.ones(probes, dtype=np.float32)
    version = _write_with_gate(tmp_path, fake_encoder_files, gate, vectors)
    with pytest.raises(
        BundleError, match=rf"bundle {version}: the manifest's {message}|bundle {version}: the {message}"
    ):
        load_bundle(tmp_path)


def test_probes_outside_the_reduced_space_are_refused(tmp_path: Path, fake_encoder_files: Path) -> None:
    with pytest.raises(ValueError, match=r"probes \(3, 5\) do not live in the 8-d reduced space"):
        _write_with_gate(tmp_path, fake_encoder_files, GATE, np.ones((3, 5)))
