"""Pictures with text in them, made here: sign and label words drawn with the DejaVu fonts (Debian's
fonts-dejavu-core) onto generated backgrounds or onto drawings (e.g. openclipart's).

What the OCR stage is measured and tested on (docs/ocr.md): each picture shows one or two words, and
the query for it is those words.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansCondensed-Bold.ttf")
# Words found on signs, shop fronts and labels; none of them is a caption word of the demo's drawings.
_WORD_LIST = (
    "bakery pharmacy hotel museum library station garage theatre cinema pizza coffee florist butcher "
    "bookshop harbour airport hospital school bank market stadium police taxi bakehouse tickets exit "
    "welcome danger private parking open closed sale fresh organic vintage festival concert gallery "
    "salon laundry dentist office bistro brewery kiosk pottery jewellery bicycle repair ferry castle "
    "chapel zoo aquarium planetarium observatory marina tavern pantry creamery deli lemonade honey"
)
WORDS = tuple(_WORD_LIST.split())


@dataclass(frozen=True)
class TextPicture:
    name: str  # file name in the folder
    words: str  # what is written in it: the query that should find it


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install the Debian package fonts-dejavu-core")
    return ImageFont.truetype(str(path), size)


def _background(rng: random.Random, size: tuple[int, int], drawing: Path | None) -> Image.Image:
    if drawing is not None:
        with Image.open(drawing) as opened:
            art = opened.convert("RGBA")
        art.thumbnail(size)
        base = Image.new("RGBA", size, (255, 255, 255, 255))
        base.alpha_composite(art, ((size[0] - art.width) // 2, (size[1] - art.height) // 2))
        return base.convert("RGB")
    top = [rng.randrange(90, 256) for _ in range(3)]
    bottom = [rng.randrange(90, 256) for _ in range(3)]
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(size[1]):
        t = y / max(1, size[1] - 1)
        draw.line(
            [(0, y), (size[0], y)],
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    for _ in range(rng.randrange(2, 6)):  # some shapes, so that not every pixel around the text is plain
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(10, 60)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randrange(256) for _ in range(3)))
    return image


def render(words: str, rng: random.Random, size: tuple[int, int], drawing: Path | None = None) -> Image.Image:
    """``words`` on a plate (a sign or label) placed at random on a background or a drawing."""
    image = _background(rng, size, drawing)
    draw = ImageDraw.Draw(image)
    font = _font(rng.choice(FONTS), rng.randrange(22, 44))
    left, top, right, bottom = draw.textbbox((0, 0), words, font=font)
    while right - left > size[0] - 16 and font.size > 12:
        font = font.font_variant(size=font.size - 2)
        left, top, right, bottom = draw.textbbox((0, 0), words, font=font)
    width, height = round(right - left), round(bottom - top)
    x = rng.randrange(8, max(9, size[0] - width - 8))
    y = rng.randrange(8, max(9, size[1] - height - 8))
    dark = rng.random() < 0.5
    plate = (245, 240, 225) if dark else (30, 60, 110)
    ink = (20, 20, 20) if dark else (250, 250, 250)
    draw.rectangle([x - 6, y - 6, x + width + 6, y + height + 6], fill=plate)
    draw.text((x - left, y - top), words, font=font, fill=ink)
    return image


def make_text_pictures(
    folder: Path,
    count: int,
    *,
    seed: int = 0,
    drawings: Sequence[Path] = (),
    size: tuple[int, int] = (320, 240),
) -> list[TextPicture]:
    """Write ``count`` PNGs to ``folder``, each with one or two of ``WORDS`` (distinct pairs); on the
    ``drawings`` in turn when given, else on generated backgrounds."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made: list[TextPicture] = []
    used: set[str] = set()
    while len(made) < count:
        words = " ".join(rng.sample(WORDS, rng.choice((1, 2)))).upper() if rng.random() < 0.4 else ""
        words = words or " ".join(rng.sample(WORDS, rng.choice((1, 2)))).capitalize()
        if words.lower() in used:
            continue
        used.add(words.lower())
        drawing = drawings[len(made) % len(drawings)] if drawings else None
        name = f"text-{len(made):04d}.png"
        render(words, rng, size, drawing).save(folder / name)
        made.append(TextPicture(name, words))
    return made
