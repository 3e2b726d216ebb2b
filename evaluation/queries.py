"""Queries and relevance from a held-out split with human captions: pure, no I/O.

Two query sets:
- ``all``: every distinct human caption of the held-out images; the relevant images of a query are all
  images that have it as one of their captions.
- ``paired`` (for the human-caption ceiling without leakage): images with two or more distinct captions
  are indexed with their first caption and queried with the others; single-caption images are indexed with
  their caption. A query is dropped when its text is some image's indexed caption, so no query can find
  its answer by matching its own text.
- ``keywords``: against the same index as ``paired``, each image's human-written tags (openclipart
  keeps them beside its captions) asked as one query; every image with the same tags is relevant. A
  query is dropped when it is some image's indexed caption. Tags are not captions, but there are many
  more of them, so this ratio is steadier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from training.data import ImageRecord


@dataclass(frozen=True)
class QuerySet:
    name: str
    texts: list[str]
    relevant: list[frozenset[str]]  # image ids, one set per query


def caption_texts(record: ImageRecord) -> list[str]:
    """The record's distinct captions as text, in order."""
    return list(dict.fromkeys(" ".join(tokens) for tokens in record.captions if tokens))


def _images_by_caption(records: Sequence[ImageRecord]) -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for record in records:
        for text in caption_texts(record):
            owners.setdefault(text, set()).add(record.image_id)
    return owners


def all_caption_queries(records: Sequence[ImageRecord]) -> QuerySet:
    owners = _images_by_caption(records)
    return QuerySet("all", list(owners), [frozenset(ids) for ids in owners.values()])


def paired_ceiling(records: Sequence[ImageRecord]) -> tuple[dict[str, str], QuerySet]:
    """(image id -> the human caption it is indexed with, the held-out-caption queries)."""
    indexed = {r.image_id: caption_texts(r)[0] for r in records if caption_texts(r)}
    owners = _images_by_caption(records)
    used = set(indexed.values())
    texts = [
        text for r in records for text in caption_texts(r)[1:] if text not in used
    ]  # a text shared by two multi-caption images is asked once
    texts = list(dict.fromkeys(texts))
    return indexed, QuerySet("paired", texts, [frozenset(owners[text]) for text in texts])


def nonsense_queries(count: int, seed: int = 0) -> list[str]:
    """Pseudo-words ("vrolq zektif") that describe nothing, for measuring a relevance cutoff."""
    import random

    rng = random.Random(seed)
    consonants, vowels = "bcdfghjklmnpqrstvwxz", "aeiouy"

    def word() -> str:
        return "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 3)))

    return [" ".join(word() for _ in range(rng.randint(1, 3))) for _ in range(count)]


KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def keyboard_noise(count: int, seed: int = 0) -> list[str]:
    """Keyboard noise ("asdfg hjk", "xqzvtp"): runs along a keyboard row or random letters, one to
    three words, a second kind of nonsense beside the pseudo-words."""
    import random
    import string

    rng = random.Random(seed)

    def word() -> str:
        length = rng.randint(3, 8)
        if rng.random() < 0.5:
            row = rng.choice(KEYBOARD_ROWS)
            start = rng.randrange(len(row) - 2)
            return row[start : start + length]
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(length))

    return [" ".join(word() for _ in range(rng.randint(1, 3))) for _ in range(count)]


def keyword_queries(records: Sequence[ImageRecord], indexed: dict[str, str]) -> QuerySet:
    """Each image's keywords as one query, for the index of ``indexed`` (image id -> its caption)."""
    used = set(indexed.values())
    owners: dict[str, set[str]] = {}
    for record in records:
        text = " ".join(record.keywords)
        if text and text not in used:
            owners.setdefault(text, set()).add(record.image_id)
    return QuerySet("keywords", list(owners), [frozenset(ids) for ids in owners.values()])
