"""The OCR stage: words read by the real Tesseract, filtered to real words, and its start-up check."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from core.env import SettingsError
from evaluation.text_pictures import make_text_pictures, render
from indexing.ocr import Ocr, OcrUnavailable, keep_words, require_tesseract
from indexing.settings import IndexSettings


def test_keep_words_keeps_confident_real_words_once_in_reading_order() -> None:
    read = [
        ("BAKERY", 96.0),
        ("Fresh,", 91.0),  # punctuation trimmed
        ("bread", 40.0),  # below the confidence
        ("|", 95.0),
        ("OO", 90.0),  # too short
        ("rrr", 90.0),  # one letter repeated
        ("Xkcd", 92.0),  # no vowel: noise
        ("bakery", 93.0),  # the same word again
        ("1984", 96.0),  # numbers are not kept
        ("don't", 90.0),
        ("Zoo", 88.0),
    ]
    assert keep_words(read, 70.0) == ["BAKERY", "Fresh", "don't", "Zoo"]
    assert keep_words(read, 30.0)[:3] == ["BAKERY", "Fresh", "bread"]
    assert keep_words([], 0.0) == []


def test_tesseract_reads_the_words_of_a_rendered_sign(tmp_path: Path) -> None:
    image = render("PHARMACY", random.Random(3), (320, 240))
    assert Ocr().read(image) == "PHARMACY"


def test_a_picture_without_text_reads_nothing() -> None:
    plain = Image.new("RGB", (200, 150), (120, 180, 90))
    assert Ocr().read(plain) == ""


def test_made_pictures_say_what_is_written_in_them(tmp_path: Path) -> None:
    made = make_text_pictures(tmp_path, 3, seed=5)
    assert [p.name for p in made] == ["text-0000.png", "text-0001.png", "text-0002.png"]
    assert len({p.words.lower() for p in made}) == 3
    assert all((tmp_path / p.name).is_file() for p in made)


def test_without_tesseract_the_stage_fails_at_start_up_naming_the_debian_packages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no tesseract on it
    with pytest.raises(OcrUnavailable) as raised:
        require_tesseract()
    assert str(raised.value) == (
        "INDEX_OCR is on but the tesseract program is not installed: install the Debian packages "
        "tesseract-ocr tesseract-ocr-eng (apt-get install tesseract-ocr tesseract-ocr-eng)"
    )
    assert isinstance(raised.value, SettingsError)  # the command line reports it as a setting error


def test_index_ocr_is_off_by_default_and_on_takes_a_minimum_confidence() -> None:
    assert IndexSettings.from_env({}).ocr_min_confidence is None
    assert IndexSettings.from_env({"INDEX_OCR": "on"}).ocr_min_confidence == 70.0
    on = IndexSettings.from_env({"INDEX_OCR": "ON", "INDEX_OCR_MIN_CONFIDENCE": "55"})
    assert on.ocr_min_confidence == 55.0
    with pytest.raises(SettingsError, match="^INDEX_OCR must be on or off, got 'yes'$"):
        IndexSettings.from_env({"INDEX_OCR": "yes"})
    with pytest.raises(SettingsError, match="^INDEX_OCR_MIN_CONFIDENCE must be between 0 and 100, got 120$"):
        IndexSettings.from_env({"INDEX_OCR": "on", "INDEX_OCR_MIN_CONFIDENCE": "120"})
