"""The emoji set builder on a CLDR file the test writes, drawn with DejaVu Sans (an outline font that
./dev setup installs; the real set uses Noto Color Emoji's bitmaps, which no test depends on)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageFont

from training.data import load_karpathy
from training.emoji import build_emoji, main, pictograph_names, render

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
ANNOTATIONS = """<?xml version="1.0" encoding="UTF-8" ?>
<ldml><annotations>
  <annotation cp="{">open curly bracket | bracket</annotation>
  <annotation cp="{" type="tts">open curly bracket</annotation>
  <annotation cp="\N{GREEN APPLE}" type="tts">green apple</annotation>
  <annotation cp="\N{DOG FACE}" type="tts">dog face</annotation>
  <annotation cp="\N{EMOJI MODIFIER FITZPATRICK TYPE-3}" type="tts">medium-light skin tone</annotation>
  <annotation cp="\N{WAVING WHITE FLAG}\ufe0f" type="tts">white flag</annotation>
  <annotation cp="\U0001f1eb\U0001f1f7" type="tts">flag: France</annotation>
  <annotation cp="\N{NEW MOON SYMBOL}" type="tts">new moon</annotation>
  <annotation cp="\N{GRINNING FACE}" type="tts">grinning face</annotation>
</annotations></ldml>
"""


@pytest.fixture
def cldr_file(tmp_path: Path) -> Path:
    path = tmp_path / "en.xml"
    path.write_text(ANNOTATIONS, encoding="utf-8")
    return path


def test_only_single_pictographs_are_named(cldr_file: Path) -> None:
    # No punctuation, no skin-tone modifier, no flag sequence; the presentation selector is dropped.
    assert dict(pictograph_names(cldr_file)) == {
        "\N{GREEN APPLE}": "green apple",
        "\N{DOG FACE}": "dog face",
        "\N{WAVING WHITE FLAG}": "white flag",
        "\N{NEW MOON SYMBOL}": "new moon",
        "\N{GRINNING FACE}": "grinning face",
    }


def test_a_drawn_character_fills_a_white_square_and_a_missing_glyph_is_none() -> None:
    font = ImageFont.truetype(str(DEJAVU), 109)
    picture = render("\N{BLACK STAR}", font, 64)
    assert picture is not None and (picture.mode, picture.size) == ("RGB", (64, 64))
    assert picture.getpixel((0, 0)) == (255, 255, 255) and picture.getpixel((32, 32)) == (0, 0, 0)
    assert render(" ", font, 64) is None  # no ink


def test_builds_a_val_and_test_only_set(cldr_file: Path, tmp_path: Path) -> None:
    dataset = build_emoji(cldr_file, DEJAVU, tmp_path / "out", size=48)
    records = {r.image_id: r for r in load_karpathy(dataset)}
    # DejaVu Sans draws the moon and the face, and only its .notdef box for the apple, the dog and the
    # flag: those are left out, and counted.
    assert records["1f311.png"].captions == (("new", "moon"),)
    assert records["1f600.png"].captions == (("grinning", "face"),)
    assert set(records) == {"1f311.png", "1f600.png"}
    assert {r.split for r in records.values()} <= {"val", "test"}  # never train
    with Image.open(dataset.parent / records["1f600.png"].path) as image:
        assert image.size == (48, 48)
    stats = (dataset.parent / "stats.json").read_text(encoding="utf-8")
    assert '"no glyph in the font": 3' in stats and '"images": 2' in stats


def test_a_missing_font_or_names_file_says_what_to_install(
    cldr_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = tmp_path / "NoSuchEmoji.ttf"
    with pytest.raises(SystemExit) as stopped:
        main(["--out", str(tmp_path / "out"), "--annotations", str(cldr_file), "--font", str(absent)])
    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert f"{absent} not found: apt-get install fonts-noto-color-emoji unicode-cldr-core" in message
