"""Whether a query is written in words: the language half of the calibrated answer gate (core/gate.py).

Nonsense (pseudo-words, keyboard noise) and real queries are hard to tell apart by their cosines alone
(docs/quality.md, "A gate calibrated per bundle"), but easy to tell apart by their words: the words
of a real query are mostly whole entries of the encoder's own WordPiece vocabulary ("a", "dog",
"beach"), while a pseudo-word is split into pieces ("vrolq" -> "vr", "##ol", "##q"). A query at least
``KNOWN_SHARE`` of whose words are whole vocabulary entries is language, and is answered; the others
(typos, names, codes, noise) must pass the corpus-calibrated margin. The vocabulary is the bundle's
tokenizer's, so the check needs nothing the bundle does not ship.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tokenizers

# Of a query's words that must be whole vocabulary entries for it to count as language. Every real
# query set measured has at least 95 % of its queries at or above a half, the pseudo-word sets 1-2 %.
KNOWN_SHARE = 0.5


def known_share(words: Collection[str], vocabulary: Collection[str]) -> float:
    """The share of ``words`` that are entries of ``vocabulary``; 0 for no words."""
    if not words:
        return 0.0
    return sum(word in vocabulary for word in words) / len(words)


class Vocabulary:
    """The whole words a WordPiece tokenizer knows, and the words of a text as it would read them."""

    def __init__(self, tokenizer: tokenizers.Tokenizer) -> None:
        # Continuation pieces ("##ing") are not words on their own; nor are tokens like "[UNK]".
        self._words = frozenset(
            token for token in tokenizer.get_vocab() if token.isalpha() and not token.startswith("##")
        )
        self._normalizer = tokenizer.normalizer
        self._pre_tokenizer = tokenizer.pre_tokenizer
        if self._pre_tokenizer is None:
            raise ValueError("the tokenizer has no pre-tokenizer to split a text into words")

    @classmethod
    def from_file(cls, path: Path) -> Vocabulary:
        """From a ``tokenizer.json``, as an encoder folder ships it."""
        import tokenizers

        return cls(tokenizers.Tokenizer.from_file(str(path)))

    def __len__(self) -> int:
        return len(self._words)

    def words(self, text: str) -> list[str]:
        """The alphabetic words of ``text``, normalised as the encoder reads them (lower case, accents
        stripped for an uncased model); digits and punctuation are not words."""
        normalised = self._normalizer.normalize_str(text) if self._normalizer is not None else text
        return [piece for piece, _ in self._pre_tokenizer.pre_tokenize_str(normalised) if piece.isalpha()]

    def is_language(self, text: str) -> bool:
        """Whether at least ``KNOWN_SHARE`` of the words of ``text`` are whole vocabulary words."""
        return known_share(self.words(text), self._words) >= KNOWN_SHARE
