"""The browser tests' picture collection: 30 captioned SVG drawings, indexed by the real pipeline."""

from __future__ import annotations

import hashlib
from pathlib import Path

# (file name, caption, scene, label): the scene picks the drawing's colours, the label is drawn on it.
CORPUS: tuple[tuple[str, str, str, str], ...] = (
    ("dogs/rex.svg", "a brown dog running on a sandy beach", "beach", "dog"),
    ("dogs/bella.svg", "a small white dog sleeping on a sofa", "room", "dog"),
    ("dogs/max.svg", "two dogs playing with a ball in the park", "grass", "dogs"),
    ("dogs/luna.svg", "a dog catching a frisbee on the grass", "grass", "dog"),
    ("dogs/snow.svg", "a black dog standing in the snow", "snow", "dog"),
    ("cats/tom.svg", "a cat sitting on a window sill", "room", "cat"),
    ("cats/mia.svg", "a grey cat sleeping on a bed", "room", "cat"),
    ("cats/leo.svg", "a cat looking at a bird in the garden", "grass", "cat"),
    ("beach/surfer.svg", "a surfer riding a wave at the beach", "sea", "surfer"),
    ("beach/kite.svg", "children flying a kite on the beach", "beach", "kite"),
    ("beach/umbrella.svg", "a red umbrella on an empty beach", "beach", "umbrella"),
    ("city/bus.svg", "a red bus driving down a city street", "city", "bus"),
    ("city/bike.svg", "a man riding a bicycle in the city", "city", "bicycle"),
    ("city/tower.svg", "a clock tower against a blue sky", "city", "clock"),
    ("city/taxi.svg", "a yellow taxi waiting at a traffic light", "city", "taxi"),
    ("food/pizza.svg", "a pizza with cheese and tomatoes on a table", "table", "pizza"),
    ("food/cake.svg", "a chocolate cake on a white plate", "table", "cake"),
    ("food/fruit.svg", "a bowl of fruit on a kitchen table", "table", "fruit"),
    ("food/coffee.svg", "a cup of coffee next to a laptop", "table", "coffee"),
    ("animals/horse.svg", "a horse grazing in a green field", "grass", "horse"),
    ("animals/elephant.svg", "an elephant walking through tall grass", "grass", "elephant"),
    ("animals/giraffe.svg", "a giraffe eating leaves from a tree", "grass", "giraffe"),
    ("animals/ducks.svg", "ducks swimming on a calm lake", "sea", "ducks"),
    ("sport/skier.svg", "a skier going down a snowy mountain", "snow", "skier"),
    ("sport/tennis.svg", "a woman playing tennis on a clay court", "city", "tennis"),
    ("sport/football.svg", "boys playing football on a green field", "grass", "football"),
    ("boats/sail.svg", "a sailing boat on the blue sea", "sea", "boat"),
    ("boats/harbour.svg", "fishing boats in a small harbour", "sea", "boats"),
    ("trains/station.svg", "a train arriving at a station", "city", "train"),
    ("trains/bridge.svg", "a steam train crossing a stone bridge", "grass", "train"),
)

# Top and bottom colours of each scene's background.
SCENES: dict[str, tuple[str, str]] = {
    "beach": ("#8fd3f4", "#f3d9a4"),
    "sea": ("#9ad0ec", "#2f7fb5"),
    "grass": ("#a7d8f0", "#6cae4f"),
    "snow": ("#c9dcec", "#f4f7fb"),
    "city": ("#b8c4d6", "#6b7688"),
    "room": ("#f1e3cf", "#b98b63"),
    "table": ("#f6efe6", "#c58b5a"),
}


def thumbnail_svg(caption: str, scene: str, label: str) -> str:
    """A 400x300 drawing: the scene's sky and ground, a sun, and the label in a badge."""
    top, bottom = SCENES[scene]
    hue = int(hashlib.sha1(caption.encode()).hexdigest()[:4], 16) % 360
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300" viewBox="0 0 400 300">
  <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
    <stop offset="0" stop-color="{top}"/><stop offset="1" stop-color="{bottom}"/></linearGradient></defs>
  <rect width="400" height="300" fill="url(#sky)"/>
  <circle cx="330" cy="70" r="34" fill="#fff6c8" opacity="0.85"/>
  <path d="M0 215 Q100 185 200 210 T400 205 V300 H0Z" fill="{bottom}" opacity="0.9"/>
  <circle cx="200" cy="175" r="72" fill="hsl({hue} 55% 45%)"/>
  <text x="200" y="186" font-family="sans-serif" font-size="30" font-weight="700" fill="#fff"
        text-anchor="middle">{label}</text>
</svg>
"""


def write_thumbnails(folder: Path) -> None:
    """Writes every corpus item's drawing under folder, at its name."""
    for name, caption, scene, label in CORPUS:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(thumbnail_svg(caption, scene, label), encoding="utf-8")
