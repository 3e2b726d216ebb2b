from __future__ import annotations

import shutil

import pytest
import torch

from training.data import ImageRecord
from training.evaluate import METRICS, most_frequent_caption, nearest_neighbour_captions, score_captions


def test_most_frequent_caption() -> None:
    recs = [
        ImageRecord("1", "a", "train", (("a", "cat"), ("a", "dog"))),
        ImageRecord("2", "b", "train", (("a", "dog"),)),
    ]
    assert most_frequent_caption(recs) == "a dog"
    with pytest.raises(ValueError, match="no training captions"):
        most_frequent_caption([ImageRecord("1", "a", "train", ((),))])


def test_nearest_neighbour_uses_cosine_of_mean_features() -> None:
    train = [ImageRecord("1", "a", "train", (("red",), ("x",))), ImageRecord("2", "b", "train", (("blue",),))]
    train_feats = torch.tensor([[[1.0, 0.0], [1.0, 0.1]], [[0.0, 1.0], [0.1, 1.0]]])  # (N=2, P=2, E=2)
    test_feats = torch.tensor([[[0.0, 5.0], [0.0, 3.0]], [[2.0, 0.0], [4.0, 0.0]]])
    assert nearest_neighbour_captions(train, train_feats, test_feats) == ["blue", "red"]


@pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's tokenizer and METEOR need Java")
def test_scores_rank_a_perfect_caption_above_a_wrong_one() -> None:
    refs = {
        "1": ["a red circle on the left", "red circle"],
        "2": ["a blue square", "blue square"],
        "3": ["a green star", "green star"],
    }
    perfect = score_captions(
        refs, {"1": "a red circle on the left", "2": "a blue square", "3": "a green star"}
    )
    wrong = score_captions(refs, {"1": "a blue square", "2": "", "3": "a red circle"})
    assert set(perfect) == set(METRICS)
    for m in METRICS:
        assert perfect[m] > wrong[m], m
    assert perfect["BLEU-1"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same images"):
        score_captions(refs, {"1": "x"})
