"""The gate's language check against the real MiniLM tokenizer: words are read as the encoder reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.text_encoder import TOKENIZER_FILE, OnnxSentenceEncoder
from core.vocabulary import Vocabulary, known_share
from evaluation.queries import keyboard_noise, nonsense_queries


@pytest.fixture(scope="module")
def vocabulary(encoder_dir: Path) -> Vocabulary:
    return Vocabulary.from_file(encoder_dir / TOKENIZER_FILE)


def test_known_share_counts_whole_entries() -> None:
    assert known_share(["a", "dog", "zorp"], {"a", "dog"}) == pytest.approx(2 / 3)
    assert known_share([], {"a"}) == 0.0


def test_words_are_normalised_and_split_as_the_encoder_reads_them(vocabulary: Vocabulary) -> None:
    assert vocabulary.words("A Café, on the BEACH! 42") == ["a", "cafe", "on", "the", "beach"]
    assert len(vocabulary) > 10_000  # whole words only: no "##" pieces, no "[UNK]"
    assert "##ing" not in vocabulary.words("##ing")


@pytest.mark.parametrize(
    "text",
    ["a man riding a horse on a beach", "a blackbird", "penguins", "direction a suivre", "Tux the mascot"],
)
def test_real_queries_are_language(vocabulary: Vocabulary, text: str) -> None:
    assert vocabulary.is_language(text)


@pytest.mark.parametrize("text", ["vrolq zektif", "asdfgh jkl", "xqzvtp", "12345", "!!!", "drispoos mait"])
def test_nonsense_is_not_language(vocabulary: Vocabulary, text: str) -> None:
    assert not vocabulary.is_language(text)


def test_almost_no_generated_nonsense_passes(vocabulary: Vocabulary) -> None:
    for texts in (nonsense_queries(200), keyboard_noise(200)):
        assert sum(map(vocabulary.is_language, texts)) <= 4  # a pseudo-word may be a real one ("wary")


def test_the_encoder_gives_its_own_vocabulary(encoder_dir: Path) -> None:
    vocabulary = OnnxSentenceEncoder(encoder_dir).vocabulary()
    assert vocabulary.is_language("a red car") and not vocabulary.is_language("rokvaz")
