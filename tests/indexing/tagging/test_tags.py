"""Tags from class probabilities, on hand-made vocabularies and the shipped ImageNet one."""

from __future__ import annotations

import numpy as np
import pytest

from indexing.tagging.tags import Tag, TagOptions, image_tags, softmax, tags_text
from indexing.tagging.vocabulary import Ancestor, ClassWords, load_vocabulary

ANIMAL = Ancestor(("animal",), 6)
ORGANISM = Ancestor(("organism",), 5)
VOCABULARY = [
    ClassWords("n1", ("tabby", "tabby cat"), (Ancestor(("cat",), 13), ANIMAL, ORGANISM)),
    ClassWords("n2", ("Siamese cat",), (Ancestor(("cat",), 13), ANIMAL, ORGANISM)),
    ClassWords("n3", ("banana",), (Ancestor(("fruit",), 9), ORGANISM)),
]


def probabilities(*rows: list[float]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


def test_names_first_then_generic_words_summed_over_the_top_classes() -> None:
    [tags] = image_tags(probabilities([0.6, 0.3, 0.1]), VOCABULARY, TagOptions(top_classes=3))
    assert [(t.text, round(t.confidence, 3)) for t in tags] == [
        ("tabby", 0.6),
        ("siamese cat", 0.3),
        ("banana", 0.1),
        ("cat", 0.9),  # deeper than "animal" at the same weight
        ("animal", 0.9),
        ("fruit", 0.1),
    ]


def test_the_depth_cut_off_and_the_confidence_floor() -> None:
    options = TagOptions(top_classes=3, min_depth=5, min_confidence=0.2)
    [tags] = image_tags(probabilities([0.6, 0.3, 0.1]), VOCABULARY, options)
    assert tags_text(tags) == "tabby, siamese cat, organism, cat, animal"  # banana and fruit below 0.2
    [tags] = image_tags(probabilities([0.6, 0.3, 0.1]), VOCABULARY, TagOptions(top_classes=1))
    assert tags_text(tags) == "tabby, cat, animal"


def test_generic_words_are_capped_but_never_crowd_out_names() -> None:
    [tags] = image_tags(probabilities([0.5, 0.4, 0.1]), VOCABULARY, TagOptions(top_classes=3, max_generic=1))
    assert [t.text for t in tags] == ["tabby", "siamese cat", "banana", "cat"]
    assert all(isinstance(t, Tag) and 0 < t.confidence <= 1 for t in tags)


def test_shapes_and_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"expected \(N, 3\) probabilities, got \(1, 2\)"):
        image_tags(probabilities([0.5, 0.5]), VOCABULARY)
    with pytest.raises(ValueError, match="top_classes must be at least 1"):
        TagOptions(top_classes=0)
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\)"):
        TagOptions(min_confidence=1.0)


def test_softmax_rows_sum_to_one_and_keep_the_order() -> None:
    p = softmax(np.array([[1000.0, 999.0, 0.0]]))
    assert p.sum() == pytest.approx(1.0) and p[0, 0] > p[0, 1] > p[0, 2]


def test_the_shipped_vocabulary_covers_the_classifier_s_thousand_classes() -> None:
    vocabulary = load_vocabulary()
    assert len(vocabulary) == 1000 and vocabulary[281].names[:1] == ("tabby",)
    one_hot = np.zeros((1, 1000))
    one_hot[0, 281] = 1.0
    [tags] = image_tags(one_hot, vocabulary)
    words = [t.text for t in tags]
    assert words[0] == "tabby" and {"cat", "feline", "mammal", "animal"} <= set(words)
    assert not {"entity", "object", "whole", "organism"} & set(words)  # above the cut-off
