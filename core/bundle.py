"""The search bundle: a versioned folder on the model share that the query path loads.

Layout under the share root::

    bundles/CURRENT                  name of the active version (one line)
    bundles/<version>/manifest.json  dimensions, encoder id, library versions, checksums, creation time,
                                     the calibrated answer gate (``gate``, absent in older bundles),
                                     the text ANN index's ``vector_storage`` (absent: "vector")
    bundles/<version>/encoder/       model.onnx, tokenizer.json, encoder.json (see text_encoder.py)
    bundles/<version>/projection.npz mean (D,) and components (d, D) of the PCA
    bundles/<version>/centroids.npy  K-means centroids in the reduced space (C, d)
    bundles/<version>/probes.npy     the gate's nonsense probe queries in the reduced space (P, d)
                                     (core/gate.py; absent in older bundles)
    bundles/<version>/picture/       model.onnx, picture.json, imagenet_tags.json: search by picture
                                     (core/picture_encoder.py; absent when published without it)

Arrays are .npy/.npz read with allow_pickle=False. A version folder is written beside its final
place and renamed into it, then CURRENT is replaced atomically, so a reader never sees half a bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from core.gate import Gate
from core.vector_index import DEFAULT_STORAGE, VectorStorage, vector_storage

FORMAT_VERSION = 1
BUNDLES_DIR = "bundles"
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
PROJECTION_FILE = "projection.npz"
CENTROIDS_FILE = "centroids.npy"
PROBES_FILE = "probes.npy"
VISUAL_FILE = "visual.npy"  # (v, E) the visual PCA of search by picture (core/visual.py)
VISUAL_KEY = "visual"  # its manifest entry: {"input_dim": E, "output_dim": v}
ENCODER_DIR = "encoder"
PICTURE_DIR = "picture"
GATE_KEY = "gate"  # the manifest entry of the calibrated answer gate (Gate)
VECTOR_STORAGE_KEY = "vector_storage"  # what the text ANN index is built on (core/vector_index.py)
_TRACKED_LIBRARIES = ("numpy", "scikit-learn", "onnxruntime", "tokenizers", "sentence-transformers", "torch")


class BundleError(Exception):
    """The search bundle is missing, incomplete or inconsistent; the message says which file and why."""


class BundleWriteError(BundleError):
    """Publishing a bundle failed; the previously active bundle is unchanged."""


@dataclass(frozen=True)
class SearchBundle:
    """A loaded, verified bundle: everything the query path needs besides the database."""

    version: str
    path: Path
    manifest: dict[str, Any]
    pca_mean: np.ndarray  # (D,)
    pca_components: np.ndarray  # (d, D)
    centroids: np.ndarray  # (C, d)
    probes: np.ndarray | None = None  # (P, d) the gate's probe queries; None: published without
    visual_components: np.ndarray | None = None  # (v, E) the visual PCA; None: published without

    @property
    def encoder_dir(self) -> Path:
        return self.path / ENCODER_DIR

    @property
    def picture_dir(self) -> Path | None:
        """The query picture's encoder (docs/picture_search.md); None: published without one."""
        return self.path / PICTURE_DIR if PICTURE_DIR in self.manifest else None

    @property
    def input_dim(self) -> int:
        return int(self.pca_components.shape[1])

    @property
    def reduced_dim(self) -> int:
        return int(self.pca_components.shape[0])

    @property
    def cluster_count(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def rows(self) -> int:
        """Images indexed when the bundle was published (incremental runs add more); 0: not recorded."""
        corpus = self.manifest.get("corpus")
        return int(corpus.get("rows", 0)) if isinstance(corpus, dict) else 0

    @property
    def vector_storage(self) -> VectorStorage:
        """What the version's text ANN index is built on, so what its queries order by (load_bundle has
        checked the value)."""
        return recorded_vector_storage(self.manifest)

    @cached_property  # read on every query: parsed once per loaded bundle
    def gate(self) -> Gate | None:
        """The answer gate calibrated when the bundle was published; None for bundles published before
        calibration (load_bundle has checked that a recorded one is well-formed and has its probes)."""
        entry = self.manifest.get(GATE_KEY)
        return None if entry is None or self.probes is None else Gate.from_manifest(entry)


def recorded_vector_storage(manifest: dict[str, Any]) -> VectorStorage:
    """The ``vector_storage`` a manifest records; bundles published before the key have a vector index.
    ValueError for a value that is not a storage."""
    return vector_storage(manifest.get(VECTOR_STORAGE_KEY, DEFAULT_STORAGE))


def bundles_root(share: Path) -> Path:
    return share / BUNDLES_DIR


def current_version(share: Path) -> str:
    """Return the active version named by bundles/CURRENT, or raise BundleError."""
    pointer = bundles_root(share) / CURRENT_FILE
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise BundleError(
            f"no search bundle at {share}: {pointer} is missing (build an index first)"
        ) from None
    except OSError as exc:
        raise BundleError(f"cannot read {pointer}: {exc.strerror or exc}") from None
    if not version or "/" in version or version.startswith("."):
        raise BundleError(f"{pointer} does not name a bundle version (found {version!r})")
    return version


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in _TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def new_version_name(now: datetime | None = None) -> str:
    """A sortable, unique version name such as 20261124T213000Z-1a2b3c."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def write_bundle(
    share: Path,
    *,
    encoder_dir: Path,
    encoder_info: dict[str, Any],
    pca_mean: np.ndarray,
    pca_components: np.ndarray,
    centroids: np.ndarray,
    extra: dict[str, Any] | None = None,
    probes: np.ndarray | None = None,
    picture_dir: Path | None = None,
    version: str | None = None,
    activate: bool = True,
    visual_components: np.ndarray | None = None,
) -> str:
    """Write a new bundle version atomically and (by default) make it the active one.

    ``probes`` (P, d) are the calibrated gate's probe queries in the reduced space (core/gate.py).
    ``picture_dir`` is the exported picture encoder (indexing/picture_export.py), shipped as picture/.
    ``visual_components`` (v, E) is the visual PCA the rows' images.visual were projected with.
    Returns the version name. On any failure (disk full, permissions) the partial folder is removed,
    the active bundle is left as it was, and BundleWriteError says what went wrong.
    """
    mean = np.asarray(pca_mean, dtype=np.float32)
    components = np.asarray(pca_components, dtype=np.float32)
    cents = np.asarray(centroids, dtype=np.float32)
    if mean.ndim != 1 or components.ndim != 2 or components.shape[1] != mean.shape[0]:
        raise ValueError(f"PCA shapes disagree: mean {mean.shape}, components {components.shape}")
    if cents.ndim != 2 or cents.shape[1] != components.shape[0]:
        raise ValueError(f"centroids {cents.shape} do not live in the {components.shape[0]}-d reduced space")
    probe_array = None if probes is None else np.asarray(probes, dtype=np.float32)
    if probe_array is not None and (probe_array.ndim != 2 or probe_array.shape[1] != components.shape[0]):
        raise ValueError(
            f"probes {probe_array.shape} do not live in the {components.shape[0]}-d reduced space"
        )

    version = version or new_version_name()
    root = bundles_root(share)
    final = root / version
    staging = root / f".incoming-{version}-{uuid.uuid4().hex[:8]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise BundleWriteError(f"bundle version {version} already exists in {root}")
        (staging / ENCODER_DIR).mkdir(parents=True)
        for source in sorted(encoder_dir.iterdir()):
            if source.is_file():
                shutil.copyfile(source, staging / ENCODER_DIR / source.name)
        if picture_dir is not None:
            shutil.copytree(picture_dir, staging / PICTURE_DIR)
            picture = json.loads((picture_dir / "picture.json").read_text("utf-8"))
            extra = {**(extra or {}), PICTURE_DIR: picture}
        np.savez(staging / PROJECTION_FILE, mean=mean, components=components)
        np.save(staging / CENTROIDS_FILE, cents)
        if probe_array is not None:
            np.save(staging / PROBES_FILE, probe_array)
        if visual_components is not None:
            visual = np.asarray(visual_components, dtype=np.float32)
            np.save(staging / VISUAL_FILE, visual)
            shape = {"input_dim": int(visual.shape[1]), "output_dim": int(visual.shape[0])}
            extra = {**(extra or {}), VISUAL_KEY: shape}
        files = {
            str(p.relative_to(staging)): {"sha256": _sha256(p), "bytes": p.stat().st_size}
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "format": FORMAT_VERSION,
            "version": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "encoder": encoder_info,
            "pca": {"input_dim": int(components.shape[1]), "output_dim": int(components.shape[0])},
            "clusters": {"count": int(cents.shape[0])},
            "libraries": _library_versions(),
            "files": files,
            **(extra or {}),
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        _fsync_tree(staging)
        os.rename(staging, final)
        if activate:
            activate_version(share, version)
    except BundleWriteError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        reason = exc.strerror or str(exc)
        raise BundleWriteError(
            f"could not write search bundle {version} to {root}: {reason}; the active bundle is unchanged"
        ) from exc
    return version


def activate_version(share: Path, version: str) -> None:
    """Point bundles/CURRENT at an existing version, atomically."""
    root = bundles_root(share)
    if not (root / version / MANIFEST_FILE).is_file():
        raise BundleError(f"cannot activate bundle {version}: {root / version / MANIFEST_FILE} is missing")
    temporary = root / f".{CURRENT_FILE}.{uuid.uuid4().hex[:8]}"
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(version + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, root / CURRENT_FILE)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise BundleWriteError(f"could not activate bundle {version}: {exc.strerror or exc}") from exc


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


def load_bundle(share: Path, version: str | None = None, *, verify_checksums: bool = True) -> SearchBundle:
    """Load and check a bundle (the active one by default).

    Raises BundleError naming the missing or mismatched file. Checksums cover every file, the
    encoder included; pass verify_checksums=False only where start-up time matters more than that.
    """
    version = version or current_version(share)
    path = bundles_root(share) / version
    manifest_path = path / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"bundle {version}: {manifest_path} is missing") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"bundle {version}: {manifest_path} is not readable JSON ({exc})") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise BundleError(
            f"bundle {version}: format {manifest.get('format')!r} is not supported "
            f"(expected {FORMAT_VERSION})"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"bundle {version}: manifest lists no files")
    for relative, expected in files.items():
        file_path = path / relative
        if not file_path.is_file():
            raise BundleError(f"bundle {version}: {relative} is missing")
        if file_path.stat().st_size != expected["bytes"]:
            raise BundleError(
                f"bundle {version}: {relative} has {file_path.stat().st_size} bytes, "
                f"manifest says {expected['bytes']}"
            )
        if verify_checksums and _sha256(file_path) != expected["sha256"]:
            raise BundleError(f"bundle {version}: checksum mismatch for {relative}")

    try:
        with np.load(path / PROJECTION_FILE, allow_pickle=False) as projection:
            mean = projection["mean"].astype(np.float32)
            components = projection["components"].astype(np.float32)
        centroids = np.load(path / CENTROIDS_FILE, allow_pickle=False).astype(np.float32)
        probes = (
            np.load(path / PROBES_FILE, allow_pickle=False).astype(np.float32)
            if PROBES_FILE in files
            else None
        )
        visual = (
            np.load(path / VISUAL_FILE, allow_pickle=False).astype(np.float32)
            if VISUAL_FILE in files
            else None
        )
    except (OSError, ValueError, KeyError) as exc:
        raise BundleError(f"bundle {version}: arrays could not be read ({exc})") from None

    expected_pca = (manifest["pca"]["output_dim"], manifest["pca"]["input_dim"])
    if components.shape != expected_pca or mean.shape != (expected_pca[1],):
        raise BundleError(
            f"bundle {version}: PCA components {components.shape} / mean {mean.shape} "
            f"do not match the manifest {expected_pca}"
        )
    if centroids.shape != (manifest["clusters"]["count"], expected_pca[0]):
        raise BundleError(
            f"bundle {version}: centroids {centroids.shape} do not match the manifest "
            f"({manifest['clusters']['count']}, {expected_pca[0]})"
        )
    if manifest.get(GATE_KEY) is not None:
        try:
            Gate.from_manifest(manifest[GATE_KEY])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"bundle {version}: the manifest's gate is malformed ({exc})") from None
        if probes is None or probes.ndim != 2 or probes.shape[1] != expected_pca[0]:
            shape = None if probes is None else probes.shape
            raise BundleError(f"bundle {version}: the gate's probes {shape} are not (P, {expected_pca[0]})")
    visual_entry = manifest.get(VISUAL_KEY)
    if (visual is None) != (visual_entry is None) or (
        visual is not None and visual.shape != (visual_entry.get("output_dim"), visual_entry.get("input_dim"))
    ):
        shape = None if visual is None else visual.shape
        raise BundleError(
            f"bundle {version}: the visual PCA {shape} does not match the manifest {visual_entry}"
        )
    try:
        recorded_vector_storage(manifest)
    except ValueError as exc:
        raise BundleError(f"bundle {version}: the manifest's {VECTOR_STORAGE_KEY} is wrong ({exc})") from None
    encoder_dim = manifest.get("encoder", {}).get("dim")
    if encoder_dim != expected_pca[1]:
        raise BundleError(
            f"bundle {version}: encoder dimension {encoder_dim} differs from PCA input {expected_pca[1]}"
        )
    return SearchBundle(
        version=version,
        path=path,
        manifest=manifest,
        pca_mean=mean,
        pca_components=components,
        centroids=centroids,
        probes=probes,
        visual_components=visual,
    )
