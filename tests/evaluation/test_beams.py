"""Beam candidates: the best one is exactly the captioner's caption; the rest follow by score."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from evaluation.beams import beam_candidates, caption_candidates
from tests.indexing.conftest import make_shapes, write_tiny_checkpoint
from training.caption import load_captioner


def test_best_candidate_is_the_captioners_caption(tmp_path: Path) -> None:
    captioner = load_captioner(write_tiny_checkpoint(tmp_path / "tiny.pt"))
    names = make_shapes(tmp_path / "img", 6)
    pixels = torch.stack([captioner.preprocess(Image.open(tmp_path / "img" / n)) for n in names])
    expected = captioner.caption_tensors(pixels, beam_size=4, max_length=8)
    found = beam_candidates(captioner.model.decoder, captioner.encode(pixels), beam_size=4, max_length=8)
    for result, hypotheses in zip(expected, found, strict=True):
        assert len(hypotheses) == 4
        assert hypotheses[0][0] == result.tokens
        assert abs(hypotheses[0][1] - result.score) < 1e-5
        scores = [score for _, score in hypotheses]
        assert scores == sorted(scores, reverse=True)


def test_caption_candidates_are_distinct_texts(tmp_path: Path) -> None:
    captioner = load_captioner(write_tiny_checkpoint(tmp_path / "tiny.pt"))
    paths = [tmp_path / "img" / n for n in make_shapes(tmp_path / "img", 5)]
    captions = caption_candidates(captioner, paths, beam_size=3, max_length=8, batch_size=2, progress=False)
    assert len(captions) == 5
    for candidates in captions:
        texts = [text for text, _ in candidates]
        assert 1 <= len(texts) <= 3 and len(set(texts)) == len(texts)
