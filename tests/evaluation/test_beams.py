"""Beam alternatives: the captioner's other hypotheses, distinct, best first, never above its caption."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from evaluation.beams import caption_candidates
from training.beam import beam_search
from training.caption import load_captioner
from training.synthetic import make_shapes, write_tiny_checkpoint


def test_alternatives_are_the_other_finished_hypotheses(tmp_path: Path) -> None:
    captioner = load_captioner(write_tiny_checkpoint(tmp_path / "tiny.pt"))
    names = make_shapes(tmp_path / "img", 6)
    pixels = torch.stack([captioner.preprocess(Image.open(tmp_path / "img" / n)) for n in names])
    results = captioner.caption_tensors(pixels, beam_size=4, max_length=8)
    beams = beam_search(captioner.model.decoder, captioner.encode(pixels), 4, 8)
    for i, result in enumerate(results):
        hypotheses = {
            " ".join(captioner.vocab.decode(beams.all_tokens[i, j, : int(beams.all_lengths[i, j])].tolist()))
            for j in range(4)
            if torch.isfinite(beams.all_scores[i, j])
        }
        texts = [text for text, _ in result.alternatives]
        assert set(texts) == hypotheses - {result.text}
        assert len(set(texts)) == len(texts)
        scores = [score for _, score in result.alternatives]
        assert scores == sorted(scores, reverse=True)
        assert all(score <= result.score + 1e-6 for score in scores)


def test_caption_candidates_start_with_the_caption(tmp_path: Path) -> None:
    captioner = load_captioner(write_tiny_checkpoint(tmp_path / "tiny.pt"))
    paths = [tmp_path / "img" / n for n in make_shapes(tmp_path / "img", 5)]
    captions = caption_candidates(captioner, paths, beam_size=3, max_length=8, batch_size=2, progress=False)
    direct = captioner.caption_batch([Image.open(p) for p in paths], beam_size=3, max_length=8)
    assert [c[0][0] for c in captions] == [r.text for r in direct]
    for candidates in captions:
        texts = [text for text, _ in candidates]
        assert 1 <= len(texts) <= 3 and len(set(texts)) == len(texts)
