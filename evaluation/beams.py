"""Several captions per image: the captioner's caption and its other beam hypotheses, best first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from training.caption import Captioner
from training.images import load_image


def caption_candidates(
    captioner: Captioner,
    paths: Sequence[Path],
    *,
    beam_size: int = 5,
    max_length: int = 20,
    batch_size: int = 32,
    progress: bool = True,
) -> list[list[tuple[str, float]]]:
    """Image files -> per image, its distinct beam captions (text, score), best first."""
    from tqdm import tqdm

    results: list[list[tuple[str, float]]] = []
    bar = tqdm(total=len(paths), desc="caption", unit="img", disable=not progress)
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        pixels = torch.stack([captioner.preprocess(load_image(path)) for path in batch])  # (B, 3, S, S)
        for result in captioner.caption_tensors(pixels, beam_size=beam_size, max_length=max_length):
            results.append([(result.text, result.score), *result.alternatives])
        bar.update(len(batch))
    bar.close()
    return results
