"""What a training run reads: cached encoder features (frozen encoder) or images (fine-tuning)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from training import loop
from training.augment import check_views
from training.backbones import spec
from training.config import TrainConfig
from training.data import FeatureCaptionDataset, ImageCaptionDataset, caption_samples
from training.features import cached_features
from training.model import ShowAttendTell
from training.vocab import Vocabulary


def _features_for(
    tc: TrainConfig,
    model: ShowAttendTell,
    records: list[Any],
    device: torch.device,
    info: loop.DistInfo,
    view: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    root = tc.image_root_path()
    cache = Path(tc.cache_dir) if tc.cache_dir else Path(tc.out_dir).parent / "features"
    if info.is_main:  # rank 0 encodes once; the others read the cache it wrote
        feats = cached_features(cache, model.encoder, root, records, model.config, device=device, view=view)
    loop.barrier(info)
    if not info.is_main:
        feats = cached_features(cache, model.encoder, root, records, model.config, device=device, view=view)
    return feats


def training_datasets(
    tc: TrainConfig,
    model: ShowAttendTell,
    train_recs: list[Any],
    val_recs: list[Any],
    vocab: Vocabulary,
    device: torch.device,
    info: loop.DistInfo,
) -> tuple[Any, torch.Tensor | None]:
    """Training samples (cached features, or images when fine-tuning) and cached val features."""
    samples = caption_samples(train_recs, vocab, tc.max_words)
    check_views(tc.augment)
    if model.config.fine_tune_blocks:
        if tc.augment:
            raise ValueError(
                "augment views are cached features: they need a frozen encoder (fine_tune_blocks=0)"
            )
        root = tc.image_root_path()
        bspec = spec(model.config.backbone)
        images = ImageCaptionDataset(
            root, train_recs, samples, model.config.image_size, bspec.mean, bspec.std
        )
        return images, None
    feats, ok = _features_for(tc, model, train_recs, device, info)
    val_feats = _features_for(tc, model, val_recs, device, info)[0] if val_recs else None
    kept = [s for s in samples if ok[s[0]]]
    # Each view is a block of rows after the plain features: (V + 1) * N rows, one sample per caption each.
    blocks, n = [feats], len(train_recs)
    for v, view in enumerate(tc.augment, start=1):
        view_feats, view_ok = _features_for(tc, model, train_recs, device, info, view)
        blocks.append(view_feats)
        kept += [(row + v * n, ids) for row, ids in samples if view_ok[row]]
    return FeatureCaptionDataset(torch.cat(blocks) if len(blocks) > 1 else feats, kept), val_feats
