"""Batched beam search over encoded images: tensors in, token ids and scores out."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.model import Decoder
from training.vocab import END_ID, PAD_ID, START_ID, UNK_ID


@dataclass
class BeamOutput:
    tokens: torch.Tensor  # (B, L) best caption per image, padded with <pad> after <end>
    lengths: torch.Tensor  # (B,) words in each caption, <end> excluded
    scores: torch.Tensor  # (B,) length-normalised log-probability
    alphas: torch.Tensor  # (B, L, P) attention for each emitted word
    all_tokens: torch.Tensor  # (B, k, L) every hypothesis in the beam, padded after its last word
    all_lengths: torch.Tensor  # (B, k)
    all_scores: torch.Tensor  # (B, k) length-normalised; -inf for a hypothesis that never started


@torch.no_grad()
def beam_search(
    decoder: Decoder,
    features: torch.Tensor,
    beam_size: int = 3,
    max_length: int = 20,
    length_penalty: float = 1.0,
    ban_repeats: bool = True,
) -> BeamOutput:
    """Decode all images in `features` (B, P, E) at once; beam_size 1 is greedy decoding.

    Finished hypotheses stay in the beam with a frozen score; the winner per image maximises
    log p / (words + 1) ** length_penalty (the +1 counts `<end>`). ``ban_repeats`` forbids a word
    right after itself ("flowers flowers flowers ..."), the loop an undertrained decoder falls into.
    """
    if beam_size < 1:
        raise ValueError("beam_size must be >= 1")
    if max_length < 1:
        raise ValueError("max_length must be >= 1")
    b, p, e = features.shape
    if beam_size > decoder.out.out_features:
        raise ValueError("beam_size must not exceed the vocabulary size")
    k = beam_size
    device = features.device
    feats = features.unsqueeze(1).expand(b, k, p, e).reshape(b * k, p, e)  # (B*k, P, E)
    projected = decoder.attention.project(feats)
    h, c = decoder.init_state(feats)
    prev = torch.full((b * k,), START_ID, dtype=torch.long, device=device)
    # Only beam 0 is live at the start, so the k beams do not all pick the same first word.
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    finished = torch.zeros(b, k, dtype=torch.bool, device=device)
    lengths = torch.zeros(b, k, dtype=torch.long, device=device)
    tokens = torch.empty(b, k, 0, dtype=torch.long, device=device)
    alphas = torch.empty(b, k, 0, p, device=device)
    banned = torch.tensor([PAD_ID, START_ID, UNK_ID], device=device)
    idx = torch.arange(b, device=device)
    batch_offsets = (idx * k).unsqueeze(1)  # (B, 1)
    # A live beam may only say <end> on its last step, so no caption exceeds max_length words.
    end_row = torch.full((decoder.out.out_features,), float("-inf"), device=device)
    end_row[END_ID] = 0.0

    for step in range(max_length + 1):
        logits, alpha, h, c = decoder.step(feats, projected, prev, h, c)
        log_probs = torch.log_softmax(logits.float(), dim=1).view(b, k, -1)  # (B, k, V)
        vocab = log_probs.size(2)
        # Never emit <unk>, <pad> or <start>: they carry nothing a caption reader can use.
        log_probs[:, :, banned] = float("-inf")
        if ban_repeats:
            log_probs.scatter_(2, prev.view(b, k, 1), float("-inf"))  # finished rows are reset below
        # A finished beam can only extend with <pad>, at no cost.
        done_row = torch.full((vocab,), float("-inf"), device=device)
        done_row[PAD_ID] = 0.0
        log_probs = torch.where(finished.unsqueeze(2), done_row, log_probs)
        if step == max_length:
            log_probs = torch.where(finished.unsqueeze(2), log_probs, log_probs + end_row)
        candidates = (scores.unsqueeze(2) + log_probs).view(b, k * vocab)  # (B, k*V)
        scores, flat = candidates.topk(k, dim=1)  # (B, k)
        origin = torch.div(flat, vocab, rounding_mode="floor")  # (B, k) beam each came from
        word = flat % vocab  # (B, k)
        rows = (batch_offsets + origin).view(-1)  # (B*k,)
        tokens = torch.cat([tokens.gather(1, origin[:, :, None].expand_as(tokens)), word.unsqueeze(2)], dim=2)
        alphas = alphas.view(b * k, -1, p)[rows].view(b, k, -1, p)
        alphas = torch.cat([alphas, alpha.view(b, k, p)[idx[:, None], origin].unsqueeze(2)], dim=2)
        was_finished = finished.gather(1, origin)
        lengths = lengths.gather(1, origin) + (~was_finished & (word != END_ID)).long()
        finished = was_finished | (word == END_ID)
        h, c, prev = h[rows], c[rows], word.view(-1)
        if bool(finished.all()):
            break

    normalised = scores / (lengths.float() + 1.0) ** length_penalty  # (B, k)
    best = normalised.argmax(dim=1)  # (B,)
    # Positions after the last word (its <end> and padding) are blanked.
    positions = torch.arange(tokens.size(2), device=device).view(1, 1, -1)
    all_tokens = tokens.masked_fill(positions > lengths.unsqueeze(2), PAD_ID)  # (B, k, L)
    return BeamOutput(
        all_tokens[idx, best],
        lengths[idx, best],
        normalised[idx, best],
        alphas[idx, best],
        all_tokens,
        lengths,
        normalised,
    )
