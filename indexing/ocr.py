"""Text in pictures: the words Tesseract reads in an image, kept only when they look like real words.

The optional OCR stage of indexing (INDEX_OCR, indexing/settings.py; docs/ocr.md). It runs in the read
stage's DataLoader workers, on the decoded image at its own resolution (the captioner's input is too
small to read). Tesseract also "reads" letters in the strokes of drawings, so ``keep_words`` keeps a
word only above a confidence and only when it is made of letters with a vowel, at least 3 long: the
noise measured on the demo's drawings is in docs/ocr.md.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

from core.env import SettingsError

__all__ = [
    "DEBIAN_PACKAGES",
    "DEFAULT_MIN_CONFIDENCE",
    "TEXT_IN_PICTURE_WEIGHT",
    "Ocr",
    "OcrUnavailable",
    "keep_words",
    "require_tesseract",
]

DEBIAN_PACKAGES = "tesseract-ocr tesseract-ocr-eng"
DEFAULT_MIN_CONFIDENCE = 70.0  # Tesseract's per-word confidence, 0..100 (chosen in docs/ocr.md)
# Of the words read in a picture against its captions and tags in its embedding (indexing/mapper.py):
# full text alone re-ranks only the 50 nearest images, which a sign's words rarely bring (docs/ocr.md).
TEXT_IN_PICTURE_WEIGHT = 0.5
LANGUAGE = "eng"
# Thumbnails are enlarged to this many pixels on the long side; enlarging larger pictures, or sparse-text
# page segmentation (--psm 11), read fewer of the test pictures' words (docs/ocr.md).
_READ_SIDE = 320
_WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")
_VOWELS = frozenset("aeiouyAEIOUY")


class OcrUnavailable(SettingsError):
    """INDEX_OCR is on but Tesseract (or its English data) is not installed: a start-up failure."""


def require_tesseract() -> None:
    """Fail at start-up, naming the Debian packages, when the stage could not run."""
    install = f"install the Debian packages {DEBIAN_PACKAGES} (apt-get install {DEBIAN_PACKAGES})"
    if shutil.which("tesseract") is None:
        raise OcrUnavailable(f"INDEX_OCR is on but the tesseract program is not installed: {install}")
    import pytesseract

    if LANGUAGE not in pytesseract.get_languages(config=""):
        raise OcrUnavailable(
            f"INDEX_OCR is on but tesseract has no English data ({LANGUAGE}.traineddata): "
            "install the Debian package tesseract-ocr-eng"
        )


def keep_words(words: Iterable[tuple[str, float]], min_confidence: float) -> list[str]:
    """The (text, confidence) tokens that look like real words, punctuation trimmed, each word once
    (case-insensitively) in reading order."""
    kept: list[str] = []
    seen: set[str] = set()
    for text, confidence in words:
        if confidence < min_confidence:
            continue
        match = _WORD.fullmatch(text.strip(".,;:!?\"'()[]{}<>«»“”‘’"))
        if match is None:
            continue
        word = match.group(0)
        letters = word.replace("'", "").replace("-", "")
        if len(letters) < 3 or not _VOWELS.intersection(letters) or len(set(letters.lower())) == 1:
            continue
        if word.lower() not in seen:
            seen.add(word.lower())
            kept.append(word)
    return kept


def _for_reading(image: Image.Image) -> Image.Image:
    gray = image.convert("L")
    scale = _READ_SIDE / max(gray.size)
    if scale > 1:
        gray = gray.resize((round(gray.width * scale), round(gray.height * scale)), Image.Resampling.LANCZOS)
    return gray


@dataclass(frozen=True)
class Ocr:
    """Reads an image's words (``read``); picklable, so DataLoader workers and Ray tasks can hold it."""

    min_confidence: float = DEFAULT_MIN_CONFIDENCE

    def words(self, image: Image.Image) -> list[tuple[str, float]]:
        """Every token Tesseract reads in ``image`` with its confidence (0..100), in reading order."""
        import pytesseract

        # One thread per call: the stage runs in every DataLoader worker already.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        data = pytesseract.image_to_data(
            _for_reading(image), lang=LANGUAGE, output_type=pytesseract.Output.DICT
        )
        return [(str(t), float(c)) for t, c in zip(data["text"], data["conf"], strict=True) if str(t).strip()]

    def read(self, image: Image.Image) -> str:
        """The image's real words, space-separated ('' when none)."""
        return " ".join(keep_words(self.words(image), self.min_confidence))
