"""How an image's tags are stored: a jsonb array of ``[word, confidence]`` pairs, names before generic words.

The indexer writes them (indexing/tagging/); search returns them with each result and matches their
words in full text. A pair list keeps the order, which a jsonb object would not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

ImageTags = tuple[tuple[str, float], ...]


def tags_json(tags: Iterable[tuple[str, float]]) -> str:
    """Tags as the stored JSON text: ``[["cat", 0.83], ["feline", 0.83]]``; confidences to 4 places."""
    return json.dumps([[str(word), round(float(confidence), 4)] for word, confidence in tags])


def parse_tags(stored: object) -> ImageTags:
    """Stored tags (the JSON text, or the list psycopg2 decodes jsonb to) as ``(word, confidence)`` pairs."""
    pairs = json.loads(stored) if isinstance(stored, str | bytes) else stored
    if not isinstance(pairs, Sequence):
        raise ValueError(f"tags must be a list of [word, confidence] pairs, got {type(pairs).__name__}")
    return tuple((str(word), float(confidence)) for word, confidence in pairs)
