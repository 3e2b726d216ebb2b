"""Several captions per image: every finished hypothesis of the batched beam search, best first.

`training.beam.beam_search` keeps only the best of its ``beam_size`` hypotheses. This is the same search
(same scores, same length normalisation, so candidate 0 is exactly its caption; a test checks this) that
returns all of them. Proposed upstream change: let `beam_search` return the (B, k) hypotheses it already
holds, so this copy can go.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from training.caption import Captioner
from training.images import load_image
from training.model import Decoder
from training.vocab import END_ID, PAD_ID, START_ID


@torch.no_grad()
def beam_candidates(
    decoder: Decoder, features: torch.Tensor, beam_size: int, max_length: int
) -> list[list[tuple[list[int], float]]]:
    """Features (B, P, E) -> per image, the ``beam_size`` hypotheses as (word ids, normalised score),
    best first."""
    b, p, e = features.shape
    k = beam_size
    device = features.device
    feats = features.unsqueeze(1).expand(b, k, p, e).reshape(b * k, p, e)  # (B*k, P, E)
    projected = decoder.attention.project(feats)
    h, c = decoder.init_state(feats)
    prev = torch.full((b * k,), START_ID, dtype=torch.long, device=device)
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    finished = torch.zeros(b, k, dtype=torch.bool, device=device)
    lengths = torch.zeros(b, k, dtype=torch.long, device=device)
    tokens = torch.empty(b, k, 0, dtype=torch.long, device=device)
    batch_offsets = (torch.arange(b, device=device) * k).unsqueeze(1)  # (B, 1)
    end_row = torch.full((decoder.out.out_features,), float("-inf"), device=device)
    end_row[END_ID] = 0.0
    for step in range(max_length + 1):
        logits, _, h, c = decoder.step(feats, projected, prev, h, c)
        log_probs = torch.log_softmax(logits.float(), dim=1).view(b, k, -1)  # (B, k, V)
        vocab = log_probs.size(2)
        done_row = torch.full((vocab,), float("-inf"), device=device)
        done_row[PAD_ID] = 0.0
        log_probs = torch.where(finished.unsqueeze(2), done_row, log_probs)
        if step == max_length:
            log_probs = torch.where(finished.unsqueeze(2), log_probs, log_probs + end_row)
        scores, flat = (scores.unsqueeze(2) + log_probs).view(b, k * vocab).topk(k, dim=1)  # (B, k)
        origin = torch.div(flat, vocab, rounding_mode="floor")
        word = flat % vocab
        rows = (batch_offsets + origin).view(-1)  # (B*k,)
        tokens = torch.cat([tokens.gather(1, origin[:, :, None].expand_as(tokens)), word.unsqueeze(2)], dim=2)
        was_finished = finished.gather(1, origin)
        lengths = lengths.gather(1, origin) + (~was_finished & (word != END_ID)).long()
        finished = was_finished | (word == END_ID)
        h, c, prev = h[rows], c[rows], word.view(-1)
        if bool(finished.all()):
            break
    normalised = scores / (lengths.float() + 1.0)  # (B, k)
    out: list[list[tuple[list[int], float]]] = []
    for i in range(b):
        order = torch.argsort(normalised[i], descending=True, stable=True)
        out.append(
            [
                ([int(t) for t in tokens[i, j, : int(lengths[i, j])]], float(normalised[i, j]))
                for j in order.tolist()
                if torch.isfinite(normalised[i, j])
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
