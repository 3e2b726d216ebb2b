"""Several captions per image: every hypothesis of the captioner's batched beam search, best first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from training.beam import beam_search
from training.caption import Captioner
from training.images import load_image
from training.model import Decoder


@torch.no_grad()
def beam_candidates(
    decoder: Decoder, features: torch.Tensor, beam_size: int, max_length: int
) -> list[list[tuple[list[int], float]]]:
    """Features (B, P, E) -> per image, the ``beam_size`` hypotheses as (word ids, normalised score),
    best first; candidate 0 is the caption the captioner itself returns."""
    beams = beam_search(decoder, features, beam_size, max_length)
    out: list[list[tuple[list[int], float]]] = []
    for tokens, lengths, scores in zip(beams.all_tokens, beams.all_lengths, beams.all_scores, strict=True):
        order = torch.argsort(scores, descending=True, stable=True).tolist()
        out.append(
            [
                ([int(t) for t in tokens[j, : int(lengths[j])]], float(scores[j]))
                for j in order
                if torch.isfinite(scores[j])
            ]
        )
    return out


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
        features = captioner.encode(pixels).float()  # (B, P, E)
        for hypotheses in beam_candidates(captioner.model.decoder, features, beam_size, max_length):
            distinct: dict[str, float] = {}
            for ids, score in hypotheses:
                text = " ".join(captioner.vocab.decode(ids))
                if text not in distinct:
                    distinct[text] = score
            results.append(list(distinct.items()))
        bar.update(len(batch))
    bar.close()
    return results
