"""WordNet 3.0 noun synsets read straight from ``data.noun`` (Debian package ``wordnet-base``).

A synset's offset is its byte offset in ``data.noun``, so each one is a seek and a line, and nothing
is parsed that is not asked for. Only what the tagger needs is kept: the lemmas and the hypernyms.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
ROOT_OFFSET = 1740  # entity.n.01, the root of every noun hierarchy
_HYPERNYMS = {"@", "@i"}  # hypernym and instance hypernym


class WordNetError(ValueError):
    """The database is missing or a line is not a noun synset; the message names the file and offset."""


@dataclass(frozen=True)
class NounSynset:
    offset: int
    lemmas: tuple[str, ...]  # readable: underscores as spaces, in WordNet's order (most common first)
    hypernyms: tuple[int, ...]


def parse_synset_line(line: str) -> NounSynset:
    """One ``data.noun`` line: ``offset lexfile n w_cnt (word lex_id)* p_cnt (ptr offset pos st)*``."""
    fields = line.split(" | ", 1)[0].split()
    try:
        if fields[2] != "n":
            raise WordNetError(f"not a noun synset: {line[:40]!r}")
        words = int(fields[3], 16)
        lemmas = tuple(fields[4 + 2 * i].replace("_", " ") for i in range(words))
        at = 4 + 2 * words
        pointers = int(fields[at])
        hypernyms = tuple(
            int(fields[at + 1 + 4 * i + 1])
            for i in range(pointers)
            if fields[at + 1 + 4 * i] in _HYPERNYMS and fields[at + 1 + 4 * i + 2] == "n"
        )
        return NounSynset(int(fields[0]), lemmas, hypernyms)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, WordNetError):
            raise
        raise WordNetError(f"malformed synset line: {line[:60]!r}") from None


class NounDatabase:
    """Random access to the noun synsets of one ``data.noun`` file."""

    def __init__(self, wordnet_dir: Path = DEFAULT_WORDNET_DIR) -> None:
        self.path = Path(wordnet_dir) / "data.noun"
        if not self.path.is_file():
            raise WordNetError(f"no WordNet noun database at {self.path} (Debian package wordnet-base)")
        self._file: BinaryIO = self.path.open("rb")
        self.synset = cache(self._read)

    def _read(self, offset: int) -> NounSynset:
        self._file.seek(offset)
        line = self._file.readline().decode("utf-8", errors="replace")
        try:
            synset = parse_synset_line(line)
        except WordNetError:
            synset = None
        if synset is None or synset.offset != offset:
            raise WordNetError(f"{self.path} has no synset at offset {offset:08d}")
        return synset

    def depth(self, offset: int) -> int:
        """Steps from the root on the shortest hypernym path (the root is at depth 0)."""
        return _depths(self, offset)

    def ancestors(self, offset: int) -> Iterator[tuple[NounSynset, int]]:
        """Every synset above ``offset`` once, with its steps up from it, nearest first (breadth first)."""
        seen = {offset}
        frontier = [offset]
        steps = 0
        while frontier:
            steps += 1
            above = []
            for current in frontier:
                for parent in self.synset(current).hypernyms:
                    if parent not in seen:
                        seen.add(parent)
                        above.append(parent)
                        yield self.synset(parent), steps
            frontier = above

    def close(self) -> None:
        self._file.close()


def _depths(db: NounDatabase, offset: int) -> int:
    synset = db.synset(offset)
    if not synset.hypernyms:
        return 0
    return 1 + min(_depths(db, parent) for parent in synset.hypernyms)


def wnid_offset(wnid: str) -> int:
    """An ImageNet class id such as ``n02123045`` -> its WordNet noun offset."""
    if len(wnid) != 9 or wnid[0] != "n" or not wnid[1:].isdigit():
        raise WordNetError(f"not an ImageNet noun id: {wnid!r}")
    return int(wnid[1:])
