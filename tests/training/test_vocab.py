from __future__ import annotations

import pytest

from training.vocab import END_ID, SPECIALS, START_ID, UNK_ID, Vocabulary


def test_build_orders_by_frequency_and_applies_threshold_and_cap() -> None:
    captions = [["a", "cat"], ["a", "dog"], ["a", "cat", "sat"]]
    vocab = Vocabulary.build(captions, min_count=2)
    assert vocab.words == (*SPECIALS, "a", "cat")
    capped = Vocabulary.build(captions, min_count=1, max_size=6)
    assert capped.words == (*SPECIALS, "a", "cat")


def test_encode_maps_unknown_words_and_caps_length() -> None:
    vocab = Vocabulary.build([["a", "cat"]])
    assert vocab.encode(["a", "zebra", "cat"], max_length=2) == [START_ID, vocab.index["a"], UNK_ID, END_ID]
    assert vocab.encode([], max_length=5) == [START_ID, END_ID]


def test_decode_stops_at_end_and_skips_specials() -> None:
    vocab = Vocabulary.build([["a", "cat"]])
    ids = [START_ID, vocab.index["a"], 0, vocab.index["cat"], END_ID, vocab.index["a"]]
    assert vocab.decode(ids) == ["a", "cat"]


def test_round_trip_and_invalid_lists() -> None:
    vocab = Vocabulary.build([["x", "y"]])
    assert Vocabulary.from_list(vocab.to_list()) == vocab
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary.from_list(["cat", "dog"])
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary.from_list([*SPECIALS, "a", "a"])
