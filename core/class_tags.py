"""An image's tags from a classifier's class probabilities: pure numpy, and the classes' words.

In core because both deployables tag: the indexer its images, the Function a query picture (search by
picture, docs/picture_search.md). The words of each ImageNet class come from ``imagenet_tags.json``
(written by ``indexing.tagging.vocabulary``, shipped in every search bundle that can take pictures).

Each of the image's top classes contributes its names and the generic words above it (those at least
``min_depth`` steps below WordNet's root: higher words, "whole, object, entity", describe everything
and so describe nothing), each weighted by the class's probability. A word reached from several top
classes sums their probabilities, so "dog" gathers the mass of five dog breeds. Class names come
first and are never crowded out by generic words, which always weigh at least as much as the names
below them; ``max_generic`` caps only the generic words, the most specific first on equal weight.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Ancestor:
    words: tuple[str, ...]
    depth: int  # steps below WordNet's root (entity) on the shortest path


@dataclass(frozen=True)
class ClassWords:
    wnid: str
    names: tuple[str, ...]  # the class's own lemmas, most common first
    ancestors: tuple[Ancestor, ...]  # every hypernym above it, nearest first


def load_class_words(path: Path) -> list[ClassWords]:
    """The classes' words of an ``imagenet_tags.json``, in the classifier's output order."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        ClassWords(
            c["wnid"],
            tuple(c["names"]),
            tuple(Ancestor(tuple(a["words"]), int(a["depth"])) for a in c["ancestors"]),
        )
        for c in data["classes"]
    ]


@dataclass(frozen=True)
class Tag:
    text: str
    confidence: float  # summed class probability, in (0, 1]


@dataclass(frozen=True)
class TagOptions:
    top_classes: int = 5  # classes per image that contribute words
    min_depth: int = 6  # generic words above this depth below the root are left out
    min_confidence: float = 0.05  # weaker tags are dropped
    max_generic: int = 12  # generic words kept per image, after the class names

    def __post_init__(self) -> None:
        if self.top_classes < 1 or self.max_generic < 0:
            raise ValueError("top_classes must be at least 1 and max_generic at least 0")
        if not 0.0 <= self.min_confidence < 1.0:
            raise ValueError(f"min_confidence must be in [0, 1), got {self.min_confidence}")


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N, C) logits -> (N, C) probabilities."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def image_tags(
    probabilities: np.ndarray, vocabulary: Sequence[ClassWords], options: TagOptions = TagOptions()
) -> list[list[Tag]]:
    """(N, C) class probabilities, C = len(vocabulary) -> per image its tags, names before generic words."""
    if probabilities.ndim != 2 or probabilities.shape[1] != len(vocabulary):
        raise ValueError(f"expected (N, {len(vocabulary)}) probabilities, got {probabilities.shape}")
    top = np.argsort(-probabilities, axis=1)[:, : options.top_classes]  # (N, T)
    out = []
    for row, classes in zip(probabilities, top, strict=True):
        names: dict[str, float] = {}
        generic: dict[str, tuple[float, int]] = {}  # word -> (summed probability, deepest depth)
        for index in classes:
            p = float(row[index])
            entry = vocabulary[index]
            name = entry.names[0].lower()
            names[name] = names.get(name, 0.0) + p
            for word, depth in _generic_words(entry, options.min_depth):
                total, deepest = generic.get(word, (0.0, 0))
                generic[word] = (total + p, max(deepest, depth))
        kept = sorted(
            ((c, w) for w, c in names.items() if c >= options.min_confidence), key=lambda x: (-x[0], x[1])
        )
        general = [
            (c, -d, w) for w, (c, d) in generic.items() if c >= options.min_confidence and w not in names
        ]
        general.sort(key=lambda x: (-x[0], x[1], x[2]))  # most probable, then most specific
        tags = [Tag(w, min(1.0, c)) for c, w in kept]
        tags += [Tag(w, min(1.0, c)) for c, _, w in general[: options.max_generic]]
        out.append(tags)
    return out


def _generic_words(entry: ClassWords, min_depth: int) -> list[tuple[str, int]]:
    """The first word of each ancestor at ``min_depth`` or deeper, with its depth, each word once."""
    seen: dict[str, int] = {}
    for ancestor in entry.ancestors:
        if ancestor.depth >= min_depth:
            seen.setdefault(ancestor.words[0].lower(), ancestor.depth)
    return list(seen.items())


def tags_text(tags: Sequence[Tag]) -> str:
    """How tags read as a sentence for the text encoder and the full-text match: "cat, feline, animal"."""
    return ", ".join(tag.text for tag in tags)
