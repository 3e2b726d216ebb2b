"""Encode images once with the frozen encoder and cache the feature grids on disk."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from training.augment import VIEWS, seed_for
from training.backbones import spec
from training.data import ImageRecord
from training.images import ImageDecodeError, load_image, preprocess_image
from training.model import Encoder, ModelConfig

log = logging.getLogger(__name__)


class _Images(Dataset[tuple[torch.Tensor, bool]]):
    def __init__(
        self, root: Path, paths: Sequence[str], config: ModelConfig, view: str | None = None
    ) -> None:
        self.root, self.paths, self.config, self.view = root, list(paths), config, view
        self.spec = spec(config.backbone)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, bool]:
        size = self.config.image_size
        try:
            img = load_image(self.root / self.paths[i])
        except ImageDecodeError as exc:
            log.warning("skipping image: %s", exc)
            return torch.zeros(3, size, size), False
        if self.view is not None:
            img = VIEWS[self.view](img, seed_for(self.paths[i], self.view))
        return preprocess_image(img, size, self.spec.mean, self.spec.std), True


@torch.no_grad()
def encode_images(
    encoder: Encoder,
    image_root: Path,
    paths: Sequence[str],
    config: ModelConfig,
    batch_size: int = 32,
    num_workers: int = 1,
    device: str | torch.device = "cpu",
    view: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature grids (N, P, E) as float16 and a bool mask (N,) of images that decoded.

    ``view`` names a `training.augment.VIEWS` rendering applied to each image before the encoder."""
    loader = DataLoader(
        _Images(Path(image_root), paths, config, view),
        batch_size=batch_size,
        num_workers=num_workers,
        shuffle=False,
    )
    encoder = encoder.to(device).eval()
    feats, ok = [], []
    for images, good in tqdm(loader, desc=f"encode {view or ''}".strip(), unit="batch", dynamic_ncols=True):
        feats.append(encoder(images.to(device)).to("cpu", torch.float16))  # (b, P, E)
        ok.append(good)
    if not feats:
        return torch.empty(0, config.num_pixels, config.encoder_dim, dtype=torch.float16), torch.empty(
            0, dtype=torch.bool
        )
    return torch.cat(feats), torch.cat(ok)


def cache_key(config: ModelConfig, records: Sequence[ImageRecord], view: str | None = None) -> str:
    """Depends on everything that changes the features: backbone, size, grid, view and the image list."""
    parts: dict[str, object] = {
        "backbone": config.backbone,
        "channels": config.encoder_dim,
        "image_size": config.image_size,
        "grid": config.grid_size,
        "pretrained": config.pretrained,
    }
    if view is not None:  # absent for the plain images, so caches written before views stay valid
        parts["view"] = view
    digest = hashlib.sha1(json.dumps(parts, sort_keys=True).encode())
    for r in records:
        digest.update(r.path.encode() + b"\0")
    return digest.hexdigest()[:16]


def cached_features(
    cache_dir: Path,
    encoder: Encoder,
    image_root: Path,
    records: Sequence[ImageRecord],
    config: ModelConfig,
    batch_size: int = 32,
    num_workers: int = 1,
    device: str | torch.device = "cpu",
    view: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`encode_images` for `records`, computed once and then read from `cache_dir`."""
    path = Path(cache_dir) / f"features-{config.backbone}-{cache_key(config, records, view)}.pt"
    if path.is_file():
        data = torch.load(path, map_location="cpu", weights_only=True)
        return data["features"], data["ok"]
    feats, ok = encode_images(
        encoder, image_root, [r.path for r in records], config, batch_size, num_workers, device, view
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"features": feats, "ok": ok}, tmp)
    tmp.replace(path)
    return feats, ok
