"""The inner training loop, validation, and the few distributed helpers they need."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from training.beam import beam_search
from training.data import FeatureCaptionDataset, ImageRecord, caption_samples, collate
from training.features import encode_images
from training.model import ShowAttendTell, caption_loss
from training.vocab import Vocabulary


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_from_env() -> DistInfo:
    """Rank and world size as `torchrun` sets them; a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()


class CaptionNet(nn.Module):
    """What DDP wraps: decoder alone on cached features, or encoder + decoder on images."""

    def __init__(self, model: ShowAttendTell, from_features: bool) -> None:
        super().__init__()
        self.model = model
        self.from_features = from_features

    def forward(self, x: torch.Tensor, captions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = x if self.from_features else self.model.encoder(x)  # (B, P, E)
        return self.model.decoder(features, captions)


def batches(
    dataset: Dataset[tuple[torch.Tensor, list[int]]],
    batch_size: int,
    epoch: int,
    seed: int,
    info: DistInfo,
    skip: int,
    num_workers: int,
) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], int]:
    """This rank's batches of `epoch` in a fixed shuffled order, after skipping `skip` of them
    (resume mid-epoch). Returns the iterator and the epoch's total number of batches."""
    sampler: DistributedSampler[int] = DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed
    )
    sampler.set_epoch(epoch)
    batch_sampler = BatchSampler(sampler, batch_size, drop_last=False)
    # Its own generator: creating the iterator must not draw from the global RNG, or a resumed run
    # would see different dropout masks than an uninterrupted one.
    generator = torch.Generator().manual_seed(seed + epoch)
    loader = DataLoader(
        dataset, batch_sampler=batch_sampler, collate_fn=collate, num_workers=num_workers, generator=generator
    )
    return itertools.islice(iter(loader), skip, None), len(batch_sampler)


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA where supported, fp16 otherwise; full precision on the CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def progress(total: int, initial: int, desc: str, enabled: bool) -> tqdm:
    return tqdm(
        total=total, initial=initial, desc=desc, unit="batch", dynamic_ncols=True, disable=not enabled
    )


@torch.no_grad()
def validation_loss(
    model: ShowAttendTell,
    dataset: FeatureCaptionDataset,
    alpha_c: float,
    device: torch.device,
    batch_size: int,
) -> float:
    """Mean cross-entropy per caption on cached features (the regulariser left out)."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    total, n = 0.0, 0
    for feats, captions, lengths in loader:
        feats, captions, lengths = feats.to(device), captions.to(device), lengths.to(device)
        with autocast(device):
            logits, alphas = model.decoder(feats, captions)
        _, ce = caption_loss(logits.float(), alphas.float(), captions, lengths, alpha_c)
        total += float(ce) * len(captions)
        n += len(captions)
    return total / max(n, 1)


@torch.no_grad()
def decode_features(
    model: ShowAttendTell,
    features: torch.Tensor,
    vocab: Vocabulary,
    device: torch.device,
    beam_size: int = 1,
    max_words: int = 20,
    batch_size: int = 128,
) -> list[list[str]]:
    """Captions (as word lists) for cached feature grids (N, P, E)."""
    model.eval()
    out: list[list[str]] = []
    for start in range(0, len(features), batch_size):
        chunk = features[start : start + batch_size].to(device).float()
        result = beam_search(model.decoder, chunk, beam_size, max_words)
        out.extend(vocab.decode(row.tolist()) for row in result.tokens.cpu())
    return out


def caption_metrics(records: list[ImageRecord], hypotheses: list[list[str]]) -> dict[str, float]:
    """BLEU-4 and CIDEr-D on pre-tokenised captions (pure Python, no Java; for model selection)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    refs = {i: [" ".join(c) for c in r.captions if c] or [""] for i, r in enumerate(records)}
    hyps = {i: [" ".join(h) or "<empty>"] for i, h in enumerate(hypotheses)}
    if not refs:
        return {"bleu4": 0.0, "cider": 0.0}
    bleu, _ = Bleu(4).compute_score(refs, hyps, verbose=0)
    cider, _ = Cider().compute_score(refs, hyps)
    return {"bleu4": float(bleu[3]), "cider": float(cider)}


def validate(
    model: ShowAttendTell,
    vocab: Vocabulary,
    records: list[ImageRecord],
    features: torch.Tensor | None,
    image_root: Path,
    max_words: int,
    alpha_c: float,
    beam_size: int,
    device: torch.device,
) -> dict[str, float]:
    """Cross-entropy, BLEU-4 and CIDEr-D on the validation images (encoded now if not cached)."""
    if features is None:
        paths = [r.path for r in records]
        features = encode_images(model.encoder, image_root, paths, model.config, device=device)[0]
    dataset = FeatureCaptionDataset(features, caption_samples(records, vocab, max_words))
    ce = validation_loss(model, dataset, alpha_c, device, 256) if len(dataset) else 0.0
    hyps = decode_features(model, features, vocab, device, beam_size, max_words)
    return {"ce": ce, **caption_metrics(records, hyps)}


class RateMeter:
    """Captions per second over a run, excluding nothing but what the caller does not time."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.count = 0

    def add(self, n: int) -> None:
        self.count += n

    @property
    def rate(self) -> float:
        return self.count / max(time.perf_counter() - self.start, 1e-9)
