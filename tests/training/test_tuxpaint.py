"""The out-of-domain set builder on a stamps folder the test makes (same layout as the Debian package)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from training.data import load_karpathy
from training.tuxpaint import build_tuxpaint, english_description


def stamp(folder: Path, name: str, description: str | None, size: tuple[int, int] = (40, 20)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", size, (200, 30, 30, 255)).save(folder / f"{name}.png")
    if description is not None:
        (folder / f"{name}.txt").write_text(description, encoding="utf-8")


def test_english_description_is_the_line_without_a_locale() -> None:
    text = "A frog.\nfr.utf8=Une grenouille.\nde.utf8=Ein Frosch.\n"
    assert english_description(text) == "A frog."
    assert english_description("af.utf8='n Padda.\n\nA toad, sitting.\n") == "A toad, sitting."
    assert english_description("fr.utf8=Une grenouille.\n") is None


def test_builds_a_val_and_test_only_set_of_flattened_squares(tmp_path: Path) -> None:
    root = tmp_path / "stamps"
    for i in range(12):
        stamp(
            root / "animals" / "amphibians", f"frog{i}", f"A green frog number {i}.\nfr.utf8=Une grenouille."
        )
    stamp(root / "food", "pineapple", "A pineapple.", size=(10, 50))
    stamp(root / "food", "pineapple_mirror", "A pineapple.")
    stamp(root / "symbols", "no_text", None)
    stamp(root / "symbols", "french_only", "fr.utf8=Un signe.")

    dataset = build_tuxpaint(root, tmp_path / "out", size=64)

    records = {r.image_id: r for r in load_karpathy(dataset)}
    assert sorted(records)[:2] == ["animals/amphibians/frog0.png", "animals/amphibians/frog1.png"]
    assert len(records) == 13  # the mirror, the one without text and the French-only one are left out
    assert records["food/pineapple.png"].captions == (("a", "pineapple"),)
    assert {r.split for r in records.values()} == {"val", "test"}  # never train
    with Image.open(dataset.parent / records["food/pineapple.png"].path) as image:
        assert (image.mode, image.size) == ("RGB", (64, 64))
        assert image.getpixel((0, 0)) == (255, 255, 255)  # transparent margins became white
        assert image.getpixel((32, 32)) == (200, 30, 30)
    stats = (dataset.parent / "stats.json").read_text(encoding="utf-8")
    assert '"mirrored copy": 1' in stats and '"no English description": 2' in stats
