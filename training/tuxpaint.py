"""An out-of-domain evaluation set: Tux Paint's stamps with their one-line English descriptions.

Debian's ``tuxpaint-stamps-default`` ships ~800 pictures of everyday things (animals, food, vehicles,
household objects, plants, signs, coins, letters), photos and cut-outs as well as drawings, each with a
human description ("A frog.", "A sliced orange.") in a ``.txt`` beside it. None of it is openclipart,
so a system tuned on openclipart meets it as new pictures. It is for evaluation only: every image
lands in ``val`` (choose settings here) or ``test`` (report here), never ``train``.

python -m training.tuxpaint --out .data/tuxpaint      # dataset.json, stats.json, images/
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from training.data import ImageRecord, split_for, tokenize, write_karpathy
from training.openclipart import debian_package_files

log = logging.getLogger(__name__)

PACKAGE = "tuxpaint-stamps-default"
DEFAULT_ROOT = Path("/usr/share/tuxpaint/stamps")
LICENCE = "GPL-2 (Debian tuxpaint-stamps-default; stamps by the Tux Paint contributors)"
MAX_CAPTION_WORDS = 20


def find_tuxpaint_root() -> Path | None:
    """The stamps folder of the installed Debian package, or None."""
    for path in debian_package_files(PACKAGE):
        if path.name == "stamps" and path.is_dir():
            return path
    return DEFAULT_ROOT if DEFAULT_ROOT.is_dir() else None


def english_description(text: str) -> str | None:
    """The English line of a stamp's description file: the first line that is not ``locale=...``."""
    for line in text.splitlines():
        line = line.strip()
        head = line.split("=", 1)[0]
        if line and not ("=" in line and "." in head and " " not in head):
            return line
    return None


def flatten_on_white(source: Path, target: Path, size: int) -> None:
    """The stamp centred on a white square of ``size`` px, its aspect kept (stamps have transparency)."""
    with Image.open(source) as image:
        image.load()
        rgba = image.convert("RGBA")
    rgba.thumbnail((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    canvas.alpha_composite(rgba, ((size - rgba.width) // 2, (size - rgba.height) // 2))
    target.parent.mkdir(parents=True, exist_ok=True)
    canvas.convert("RGB").save(target, format="PNG", optimize=True)


def build_tuxpaint(stamps_root: Path, out_dir: Path, size: int = 256) -> Path:
    """Write the evaluation set into ``out_dir`` (dataset.json, stats.json, images/); returns the JSON.

    Mirrored duplicates (``*_mirror.png``) and stamps without an English description are left out.
    Re-running overwrites the images.
    """
    stamps_root, out_dir = Path(stamps_root), Path(out_dir)
    records: list[ImageRecord] = []
    skipped: Counter[str] = Counter()
    for png in sorted(stamps_root.rglob("*.png")):
        if png.stem.endswith("_mirror"):
            skipped["mirrored copy"] += 1
            continue
        description_file = png.with_suffix(".txt")
        description = (
            english_description(description_file.read_text(encoding="utf-8", errors="replace"))
            if description_file.is_file()
            else None
        )
        words = tokenize(description or "")[:MAX_CAPTION_WORDS]
        if not words:
            skipped["no English description"] += 1
            continue
        rel = png.relative_to(stamps_root).as_posix()
        try:
            flatten_on_white(png, out_dir / "images" / rel, size)
        except (OSError, ValueError) as exc:
            skipped["unreadable image"] += 1
            log.warning("skipping %s: %s", png, exc)
            continue
        split = split_for(rel, val_fraction=0.5, test_fraction=0.5)  # half val, half test
        records.append(ImageRecord(rel, f"images/{rel}", split, (tuple(words),)))
    dataset = out_dir / "dataset.json"
    write_karpathy(dataset, records, "tuxpaint")
    stats = tuxpaint_stats(records, skipped)
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return dataset


def tuxpaint_stats(records: Sequence[ImageRecord], skipped: Counter[str]) -> dict[str, object]:
    captions = [" ".join(r.captions[0]) for r in records]
    return {
        "images": len(records),
        "skipped": dict(skipped),
        "splits": dict(Counter(r.split for r in records)),
        "categories": dict(Counter(r.image_id.split("/", 1)[0] for r in records).most_common()),
        "distinct_descriptions": len(set(captions)),
        "mean_description_words": round(sum(len(c.split()) for c in captions) / max(len(captions), 1), 2),
        "licence": LICENCE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.tuxpaint", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--stamps-root", type=Path, help="default: the installed tuxpaint-stamps-default")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    root = args.stamps_root or find_tuxpaint_root()
    if root is None:
        parser.error(f"{PACKAGE} is not installed (apt-get install {PACKAGE}) and no --stamps-root given")
    print(build_tuxpaint(root, args.out, args.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
