from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from training.data import load_karpathy
from training.openclipart import build_openclipart, captions_for, clean_text, is_english, read_metadata

pytest.importorskip("cairosvg", reason="cairosvg (PyPI) renders the SVGs")


def svg(
    title: str = "",
    description: str = "",
    keywords: tuple[str, ...] = (),
    creator: str = "",
    colour: str = "red",
) -> str:
    lis = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    return f"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"
     xmlns:cc="http://web.resource.org/cc/" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <metadata><rdf:RDF><cc:Work rdf:about="">
    <dc:title>{title}</dc:title><dc:description>{description}</dc:description>
    <dc:subject><rdf:Bag>{lis}</rdf:Bag></dc:subject>
    <dc:creator><cc:Agent><dc:title>{creator}</dc:title></cc:Agent></dc:creator>
  </cc:Work></rdf:RDF></metadata>
  <rect x="0" y="0" width="20" height="20" fill="{colour}"/>
</svg>"""


WORDS = frozenset({"red", "apple", "green", "lizard", "animal", "a", "the", "on", "tree", "fruit"})


def test_clean_text_drops_contacts_authors_and_tags() -> None:
    text = "Clipart by John Doe - red_apple_01 (B and W) by John Doe, mail john@doe.org http://x.org/a"
    assert clean_text(text, creator="John Doe") == ["red", "apple", "mail"]
    assert clean_text("Flat_Cake_bw", "") == ["flat", "cake"]


def test_english_check() -> None:
    assert is_english(["a", "red", "apple"], WORDS)
    assert not is_english(["lucertola", "verde"], WORDS)
    assert is_english(["lucertola"], None)  # no word list: keep everything


def test_metadata_and_caption_fallbacks() -> None:
    meta = read_metadata(
        svg("Lucertola", "", ("lizard", "animal", "lemon_theme_icon"), "Mario Rossi").encode()
    )
    assert meta.title == "Lucertola" and meta.creator == "Mario Rossi"
    assert captions_for(meta, set(), WORDS) == ([("lizard", "animal")], "keywords")
    apple = read_metadata(svg("Red apple", "A red apple on a tree. Drawn in 2005.", creator="Jo").encode())
    assert captions_for(apple, set(), WORDS) == (
        [("red", "apple"), ("a", "red", "apple", "on", "a", "tree")],
        "title+description",
    )
    assert captions_for(apple, {"red apple"}, WORDS)[1] == "description"
    assert read_metadata(b"<svg><broken") == read_metadata(b"")


def test_build_dedupes_rasterises_and_splits(tmp_path: Path) -> None:
    root = tmp_path / "svg"
    (root / "food").mkdir(parents=True)
    (root / "animals").mkdir()
    (root / "food" / "apple.svg").write_text(svg("Red apple", creator="Jo"))
    (root / "food" / "apple_copy.svg").write_text(svg("Red apple", creator="Jo"))  # same bytes: dropped
    (root / "food" / "pear.svg").write_text(
        svg("Green fruit", colour="green", keywords=("fruit", "svg", "tree"))
    )
    (root / "animals" / "lucertola.svg").write_text(svg("Lucertola", keywords=("lizard",)))
    (root / "animals" / "nothing.svg").write_text(svg())
    words = tmp_path / "words.txt"
    words.write_text("\n".join(sorted(WORDS)))
    dataset = build_openclipart(root, tmp_path / "out", size=32, workers=1, english_words=words)
    records = {r.image_id: r for r in load_karpathy(dataset)}
    assert set(records) == {"food/apple.svg", "food/pear.svg", "animals/lucertola.svg"}
    assert records["animals/lucertola.svg"].captions == (("lizard",),)
    assert records["animals/lucertola.svg"].keywords == ()  # they are its caption already
    assert records["food/pear.svg"].keywords == ("fruit", "tree")  # beside the caption, noise dropped
    img = Image.open(dataset.parent / records["food/pear.svg"].path)
    assert img.size == (32, 32) and img.mode == "RGB"
    assert img.getpixel((0, 0)) == (255, 255, 255)  # letterboxed on white
    green = img.getpixel((8, 16))
    assert isinstance(green, tuple) and green[1] > 100  # the green square
    stats = json.loads((dataset.parent / "stats.json").read_text())
    assert stats["unique_drawings"] == 4 and stats["images"] == 3
    assert stats["skipped"] == {"no usable caption": 1}
    again = build_openclipart(root, tmp_path / "out", size=32, workers=1, english_words=words)
    assert load_karpathy(again) == load_karpathy(dataset)
