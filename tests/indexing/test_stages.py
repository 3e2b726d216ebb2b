from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.space import normalize_rows
from core.text_encoder import OnnxSentenceEncoder
from indexing.stages import encode_groups


def test_encode_groups_weighs_each_caption_by_its_beam_probability(encoder_dir: Path) -> None:
    encoder = OnnxSentenceEncoder(encoder_dir)
    groups = [["a red car", "a dog on a beach"], ["a bowl of soup"]]
    vectors = encoder.encode(["a red car", "a dog on a beach"])  # (2, D)

    confident = encode_groups(encoder, groups, scores=[[-0.1, -5.0], [-2.0]])
    unsure = encode_groups(encoder, groups, scores=[[-3.0, -3.0], [-2.0]])

    car_first = np.exp([-0.1, -5.0]) / np.exp([-0.1, -5.0]).sum()
    expected = normalize_rows((car_first[:, None] * vectors).sum(axis=0, keepdims=True))[0]
    np.testing.assert_allclose(confident[0], expected, atol=1e-6)
    np.testing.assert_allclose(unsure, encode_groups(encoder, groups), atol=1e-6)  # equal scores: plain mean
    assert float(confident[0] @ vectors[0]) > float(unsure[0] @ vectors[0]) + 0.1
    np.testing.assert_allclose(confident[1], normalize_rows(encoder.encode(["a bowl of soup"]))[0], atol=1e-6)


def test_encode_groups_needs_a_score_per_caption(encoder_dir: Path) -> None:
    encoder = OnnxSentenceEncoder(encoder_dir)
    with pytest.raises(ValueError, match="one score per caption"):
        encode_groups(encoder, [["a red car", "a blue car"]], scores=[[-1.0]])
