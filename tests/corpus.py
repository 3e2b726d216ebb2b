"""A small deterministic caption corpus for search tests (no images needed for the query path)."""

from __future__ import annotations

import itertools

SUBJECTS = [
    "a man",
    "a woman",
    "a child",
    "a dog",
    "a cat",
    "two horses",
    "a group of people",
    "an old car",
    "a red bicycle",
    "a small boat",
    "a brown bear",
    "a flock of birds",
]
ACTIONS = ["standing", "running", "sleeping", "sitting", "playing", "waiting"]
PLACES = [
    "on a sandy beach",
    "in a snowy forest",
    "next to a busy street",
    "inside a kitchen",
    "under a bridge",
    "in a green field",
]


def captions(limit: int | None = None) -> list[str]:
    """Captions such as 'a dog running on a sandy beach', in a fixed order."""
    combos = itertools.product(SUBJECTS, ACTIONS, PLACES)
    texts = [f"{subject} {action} {place}" for subject, action, place in combos]
    return texts if limit is None else texts[:limit]
