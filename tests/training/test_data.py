from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from training.data import (
    ImageRecord,
    cap_repeated_captions,
    caption_samples,
    collate,
    load_coco_captions,
    load_karpathy,
    select,
    split_for,
    tokenize,
    write_karpathy,
)
from training.vocab import PAD_ID, Vocabulary


def test_karpathy_reader_maps_restval_to_train(tmp_path: Path) -> None:
    data = {
        "images": [
            {
                "filepath": "val2014",
                "filename": "a.jpg",
                "split": "restval",
                "cocoid": 7,
                "sentences": [{"tokens": ["a", "dog"]}, {"raw": "A Dog, running!"}],
            },
            {"filepath": "val2014", "filename": "b.jpg", "split": "test", "cocoid": 8, "sentences": []},
        ]
    }
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps(data))
    recs = load_karpathy(path)
    assert recs[0] == ImageRecord("7", "val2014/a.jpg", "train", (("a", "dog"), ("a", "dog", "running")))
    assert [r.split for r in recs] == ["train", "test"]
    assert select(recs, "test")[0].image_id == "8"
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        select(recs, "dev")


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    recs = [
        ImageRecord("x1", "imgs/one.png", "val", (("red", "star"),), keywords=("shape", "red")),
        ImageRecord("x2", "two.png", "train", ()),
    ]
    write_karpathy(tmp_path / "d.json", recs, "test")
    assert load_karpathy(tmp_path / "d.json") == recs


def test_coco_captions_reader_and_hash_split(tmp_path: Path) -> None:
    data = {
        "images": [{"id": 2, "file_name": "b.jpg"}, {"id": 1, "file_name": "a.jpg"}],
        "annotations": [{"image_id": 1, "caption": "A cat."}, {"image_id": 1, "caption": "Cat on mat"}],
    }
    path = tmp_path / "captions_train2014.json"
    path.write_text(json.dumps(data))
    recs = load_coco_captions(path, image_dir="train2014")
    assert [r.image_id for r in recs] == ["1"]  # image 2 has no caption: skipped
    assert recs[0].captions == (("a", "cat"), ("cat", "on", "mat"))
    assert recs[0].split == split_for("train2014/a.jpg")
    data["annotations"].append({"id": 5, "image_id": 3, "caption": "a ghost"})
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="annotation 5 points at image id 3, which is not in 'images'"):
        load_coco_captions(path)
    with pytest.raises(ValueError, match="not a COCO captions file"):
        (tmp_path / "bad.json").write_text("{}")
        load_coco_captions(tmp_path / "bad.json")


def test_split_is_deterministic_with_roughly_the_asked_fractions() -> None:
    splits = [split_for(f"img/{i}.png", 0.1, 0.2) for i in range(5000)]
    assert splits == [split_for(f"img/{i}.png", 0.1, 0.2) for i in range(5000)]
    assert 0.17 < splits.count("test") / 5000 < 0.23
    assert 0.07 < splits.count("val") / 5000 < 0.13


def test_tokenize() -> None:
    assert tokenize("A man's HAT, 2 dogs!") == ["a", "man's", "hat", "2", "dogs"]


def test_samples_skip_empty_captions_and_collate_pads() -> None:
    recs = [ImageRecord("1", "a", "train", (("a", "b", "c"), ())), ImageRecord("2", "b", "train", (("zz",),))]
    vocab = Vocabulary.build([c for r in recs for c in r.captions])
    samples = caption_samples(recs, vocab, max_words=2)
    assert [s[0] for s in samples] == [0, 1]
    assert len(samples[0][1]) == 4  # <start> a b <end>: capped at 2 words
    x, caps, lengths = collate([(torch.zeros(2), samples[0][1]), (torch.ones(2), samples[1][1])])
    assert x.shape == (2, 2)
    assert lengths.tolist() == [4, 3]
    assert caps.shape == (2, 4) and int(caps[1, 3]) == PAD_ID


def test_cap_repeated_captions_keeps_a_fixed_spread_of_each_caption() -> None:
    stars = [ImageRecord(f"s{i}", f"images/star{i}.png", "train", (("stars",),)) for i in range(10)]
    both = ImageRecord("b", "images/both.png", "train", (("stars",), ("a", "red", "star")))
    capped = cap_repeated_captions([*stars, both], 3)
    assert sum(("stars",) in r.captions for r in capped) == 3
    assert any(r.image_id == "b" for r in capped)  # keeps its own caption even if it lost "stars"
    assert capped == cap_repeated_captions([*stars, both], 3)
    assert len(cap_repeated_captions(stars, 20)) == 10
    with pytest.raises(ValueError, match="max_per_caption must be >= 1, got 0"):
        cap_repeated_captions(stars, 0)
