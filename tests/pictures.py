"""A model share that can search by picture: an indexed bundle re-published (same version, same rows)
with the picture encoder of a real EfficientNet-Lite0 captioner (exported once, cached)."""

from __future__ import annotations

from pathlib import Path

from core.bundle import load_bundle, write_bundle
from indexing.picture_export import ensure_picture_export
from tests.conftest import ENCODER_CACHE
from tests.indexing.tagging.lite0 import write_lite0_checkpoint


def picture_share(share: Path, version: str, folder: Path) -> Path:
    """``folder``/share: bundle ``version`` of ``share`` plus a picture encoder; returns the new share."""
    picture = ensure_picture_export(ENCODER_CACHE, write_lite0_checkpoint(folder / "lite0.pt"))
    bundle = load_bundle(share, version)
    write_bundle(
        folder / "share",
        encoder_dir=bundle.encoder_dir,
        encoder_info=bundle.manifest["encoder"],
        pca_mean=bundle.pca_mean,
        pca_components=bundle.pca_components,
        centroids=bundle.centroids,
        extra={key: bundle.manifest[key] for key in ("corpus", "gate") if key in bundle.manifest},
        probes=bundle.probes,
        picture_dir=picture,
        version=version,
    )
    return folder / "share"
