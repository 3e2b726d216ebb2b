"""How an image's alternative captions are stored in one text column: one caption per line."""

from __future__ import annotations

from collections.abc import Sequence


def join_captions(captions: Sequence[str]) -> str:
    """Captions as one text, one per line (whitespace inside a caption collapses to single spaces)."""
    return "\n".join(" ".join(text.split()) for text in captions if text.strip())


def split_captions(joined: str) -> list[str]:
    return [line for line in joined.split("\n") if line]
