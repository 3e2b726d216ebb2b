"""Word vocabulary with the four special tokens, built from training captions only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
PAD_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3


@dataclass(frozen=True)
class Vocabulary:
    """An ordered word list; index = token id. The first four words are always the specials."""

    words: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.words[:4]) != SPECIALS:
            raise ValueError(f"vocabulary must start with {' '.join(SPECIALS)}")
        if len(set(self.words)) != len(self.words):
            raise ValueError("vocabulary has duplicate words")
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(
        cls, captions: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """Words seen at least `min_count` times, most frequent first (ties alphabetical), capped
        at `max_size` words including the four specials."""
        if min_count < 1:
            raise ValueError("min_count must be >= 1")
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(f"max_size must be >= {len(SPECIALS)}")
        counts = Counter(w for tokens in captions for w in tokens if w not in SPECIALS)
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max_size - len(SPECIALS)]
        return cls((*SPECIALS, *ranked))

    def encode(self, tokens: Sequence[str], max_length: int) -> list[int]:
        """`<start> w1 .. wn <end>` with at most `max_length` words; unknown words become `<unk>`."""
        if max_length < 1:
            raise ValueError("max_length must be >= 1")
        ids = [self.index.get(t, UNK_ID) for t in tokens[:max_length]]
        return [START_ID, *ids, END_ID]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words up to the first `<end>`, without `<start>`/`<pad>`."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == END_ID:
                break
            if i in (PAD_ID, START_ID):
                continue
            out.append(self.words[i] if 0 <= i < len(self.words) else UNK)
        return out

    def to_list(self) -> list[str]:
        return list(self.words)

    @classmethod
    def from_list(cls, words: Sequence[str]) -> Vocabulary:
        return cls(tuple(words))
