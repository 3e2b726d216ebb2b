"""A second out-of-domain evaluation set: emoji pictographs with their CLDR English names.

Debian's ``fonts-noto-color-emoji`` draws ~1,100 pictographs (animals, food, objects, vehicles, faces,
gestures) in one consistent colour style, and ``unicode-cldr-core`` names each in plain English ("red
apple", "dog face", "face holding back tears"): the short name a text-to-speech reader says. Neither is
openclipart nor Tux Paint, so a system tuned on either meets these as new pictures. Only the
single-code-point pictographs from U+1F300 up are kept (no skin-tone variants, flags of countries,
keycaps or letters: those are sequences or lie below). Like the Tux Paint set it is for evaluation
only: every image lands in ``val`` or ``test``, never ``train``.

python -m training.emoji --out .data/emoji      # dataset.json, stats.json, images/
"""

from __future__ import annotations

import argparse
import json
import logging
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from training.data import ImageRecord, split_for, tokenize, write_karpathy

log = logging.getLogger(__name__)

PACKAGES = ("fonts-noto-color-emoji", "unicode-cldr-core")
DEFAULT_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
DEFAULT_ANNOTATIONS = Path("/usr/share/unicode/cldr/common/annotations/en.xml")
LICENCE = "pictures: Apache-2.0 (Noto Color Emoji); names: Unicode-DFS-2016 (CLDR annotations)"
FIRST_PICTOGRAPH = 0x1F300  # Miscellaneous Symbols and Pictographs, and every pictograph block above
SKIN_TONES = range(0x1F3FB, 0x1F400)  # modifiers, not pictures of their own
NOT_A_CHARACTER = "\U0010fffd"  # a private-use code point no font draws
GLYPH_SIZE = 109  # the one size of Noto Color Emoji's bitmap strike; outline fonts draw at any size


def pictograph_names(annotations: Path) -> Iterator[tuple[str, str]]:
    """(character, English name) of each single-code-point pictograph the CLDR file names."""
    for element in ElementTree.parse(annotations).getroot().iter("annotation"):
        character = (element.get("cp") or "").replace("\ufe0f", "")  # the emoji presentation selector
        if element.get("type") != "tts" or len(character) != 1 or not element.text:
            continue
        point = ord(character)
        if point >= FIRST_PICTOGRAPH and point not in SKIN_TONES:
            yield character, element.text.strip()


def render(character: str, font: ImageFont.FreeTypeFont, size: int) -> Image.Image | None:
    """The character drawn in colour, cropped to its ink, scaled to fill a white square of ``size`` px and
    centred on it; None when the font draws nothing for it."""
    canvas = Image.new("RGBA", (GLYPH_SIZE * 2, GLYPH_SIZE * 2), (0, 0, 0, 0))
    origin = (GLYPH_SIZE // 2, GLYPH_SIZE // 2)
    # A colour glyph keeps its own colours; an outline font's is drawn in black.
    ImageDraw.Draw(canvas).text(origin, character, font=font, fill="black", embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        return None
    glyph = canvas.crop(box)
    scale = size / max(glyph.size)  # the pictograph fills the square, as a stamp or a photo's subject would
    glyph = glyph.resize(
        (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.Resampling.LANCZOS
    )
    white = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    white.alpha_composite(glyph, ((size - glyph.width) // 2, (size - glyph.height) // 2))
    return white.convert("RGB")


def build_emoji(annotations: Path, font_file: Path, out_dir: Path, size: int = 256) -> Path:
    """Write the evaluation set into ``out_dir`` (dataset.json, stats.json, images/); returns the JSON.
    Pictographs the font has no glyph for are left out. Re-running overwrites the images."""
    out_dir = Path(out_dir)
    font = ImageFont.truetype(str(font_file), GLYPH_SIZE)
    # What the font draws for a character it lacks (nothing, or its .notdef box): such pictures are left out.
    missing = render(NOT_A_CHARACTER, font, size)
    notdef = None if missing is None else missing.tobytes()
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    records: list[ImageRecord] = []
    skipped: Counter[str] = Counter()
    for character, name in pictograph_names(annotations):
        words = tokenize(name)
        picture = render(character, font, size)
        if picture is not None and picture.tobytes() == notdef:
            picture = None
        if picture is None or not words:
            skipped["no glyph in the font" if picture is None else "no words in the name"] += 1
            continue
        rel = f"{ord(character):05x}.png"
        picture.save(out_dir / "images" / rel, format="PNG", optimize=True)
        split = split_for(rel, val_fraction=0.5, test_fraction=0.5)  # half val, half test
        records.append(ImageRecord(rel, f"images/{rel}", split, (tuple(words),)))
    dataset = out_dir / "dataset.json"
    write_karpathy(dataset, records, "emoji")
    names = [" ".join(r.captions[0]) for r in records]
    stats = {
        "images": len(records),
        "skipped": dict(skipped),
        "splits": dict(Counter(r.split for r in records)),
        "distinct_names": len(set(names)),
        "mean_name_words": round(sum(len(n.split()) for n in names) / max(len(names), 1), 2),
        "licence": LICENCE,
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.emoji", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--annotations", type=Path, default=DEFAULT_ANNOTATIONS)
    parser.add_argument("--font", type=Path, default=DEFAULT_FONT)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for path in (args.annotations, args.font):
        if not path.is_file():
            parser.error(f"{path} not found: apt-get install {' '.join(PACKAGES)}, or pass its path")
    print(build_emoji(args.annotations, args.font, args.out, args.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
