"""The labels-only baseline's text and the product's tags, from hand-made class probabilities."""

from __future__ import annotations

import numpy as np

from evaluation.labels import image_tags, label_texts
from indexing.tagging.vocabulary import load_vocabulary


def test_labels_are_the_top_five_class_names_most_probable_first() -> None:
    vocabulary = load_vocabulary()
    probabilities = np.zeros((2, len(vocabulary)))
    probabilities[0, [5, 1, 900, 3, 7, 2]] = [0.3, 0.25, 0.2, 0.1, 0.1, 0.05]
    probabilities[1, 281] = 1.0
    labels = label_texts(probabilities, ["a", "b"])
    assert labels["a"] == [", ".join(vocabulary[j].names[0] for j in (5, 1, 900, 3, 7))]
    assert labels["b"][0].startswith(vocabulary[281].names[0] + ", ")


def test_tags_carry_the_class_probability_as_confidence() -> None:
    vocabulary = load_vocabulary()
    probabilities = np.zeros((1, len(vocabulary)))
    probabilities[0, 281] = 1.0
    tags = image_tags(probabilities, ["a"])["a"]
    assert tags[0] == (vocabulary[281].names[0].lower(), 1.0)
    assert all(confidence == 1.0 for _, confidence in tags)
