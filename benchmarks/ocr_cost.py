"""What the optional OCR stage (INDEX_OCR, indexing/ocr.py) costs and what it finds, in one run.

    .venv/bin/python -m benchmarks.ocr_cost --drawings 300 --text 100

Needs `./dev demo` (its captioner and its openclipart drawings) and the openclipart corpus under
.data/openclipart. The collection: ``--drawings`` of the demo's drawings (no text in them, or only what
the artist drew) and ``--text`` pictures with one or two sign words (evaluation/text_pictures.py), half
on generated backgrounds, half on other openclipart drawings. Prints:
  1. the read stage's time per picture with OCR off and on, alternated picture by picture (medians);
  2. per minimum confidence: drawings where a word is kept (noise) and text pictures whose words are
     all read;
  3. the real indexing (indexing.cli.index_images) of the collection with INDEX_OCR off and on, each
     into its own database: images/s, then each text picture's words asked as a query through
     SearchService with its defaults: R@1, R@10 and queries with no result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from evaluation.text_pictures import TextPicture, make_text_pictures
from indexing.ocr import DEFAULT_MIN_CONFIDENCE, Ocr, keep_words

DATA = Path(".data")
BENCH = DATA / "bench" / "ocr"
THRESHOLDS = (0.0, 50.0, 60.0, 70.0, 80.0, 90.0)


def collection(drawings: int, text: int, seed: int) -> tuple[Path, list[Path], list[TextPicture]]:
    """The images folder: demo drawings under drawings/, text pictures under text/ (made once)."""
    demo = sorted((DATA / "demo" / "openclipart-1000" / "images").rglob("*.png"))
    if len(demo) < drawings:
        raise SystemExit(f"only {len(demo)} demo drawings under .data/demo: run ./dev demo first")
    rng = random.Random(seed)
    chosen = rng.sample(demo, drawings)
    held = {p.name for p in demo}
    others = [p for p in sorted((DATA / "openclipart" / "images").rglob("*.png")) if p.name not in held]
    folder = BENCH / f"images-{drawings}-{text}-{seed}"
    manifest = folder / "text.json"
    if not manifest.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        for path in chosen:
            target = folder / "drawings" / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        plain = make_text_pictures(folder / "text" / "plain", text // 2, seed=seed)
        backgrounds = rng.sample(others, text - text // 2)
        drawn = make_text_pictures(
            folder / "text" / "drawn", text - text // 2, seed=seed + 1, drawings=backgrounds
        )
        made = [TextPicture(f"text/plain/{p.name}", p.words) for p in plain]
        made += [TextPicture(f"text/drawn/{p.name}", p.words) for p in drawn]
        manifest.write_text(json.dumps([[p.name, p.words] for p in made]), encoding="utf-8")
    made = [TextPicture(name, words) for name, words in json.loads(manifest.read_text(encoding="utf-8"))]
    return folder, sorted((folder / "drawings").glob("*.png")), made


def read_stage_cost(folder: Path, names: list[str], captioner: Path) -> tuple[float, float]:
    """Median ms per picture of decode + preprocess, without and with OCR, alternated per picture."""
    from indexing import loaders
    from indexing.read import decode_image

    prep = loaders.captioner(captioner, "cpu").preprocess
    ocr = Ocr()
    off: list[float] = []
    on: list[float] = []
    for name in names:
        data = (folder / name).read_bytes()
        for with_ocr, into in ((False, off), (True, on)):
            started = time.perf_counter()
            image = decode_image(data, name)
            prep(image)
            if with_ocr:
                ocr.read(image)
            into.append((time.perf_counter() - started) * 1000)
    return statistics.median(off), statistics.median(on)


def thresholds(
    folder: Path, drawings: list[Path], made: list[TextPicture]
) -> list[tuple[float, float, float]]:
    """Per threshold: share of drawings with a kept word, share of text pictures whose words all read."""
    ocr = Ocr()
    drawn = [ocr.words(Image.open(path).convert("RGB")) for path in drawings]
    texts = [ocr.words(Image.open(folder / p.name).convert("RGB")) for p in made]
    rows = []
    for threshold in THRESHOLDS:
        noisy = sum(bool(keep_words(words, threshold)) for words in drawn) / len(drawn)
        found = sum(
            set(p.words.lower().split()) <= {w.lower() for w in keep_words(words, threshold)}
            for p, words in zip(made, texts, strict=True)
        ) / len(made)
        rows.append((threshold, noisy, found))
    return rows


def index_and_search(folder: Path, made: list[TextPicture], captioner: Path, ocr: bool) -> dict[str, float]:
    from core.database import start_embedded_postgres
    from function_app.resources import build_service
    from function_app.settings import Settings
    from indexing.cli import index_images
    from indexing.encoder_export import ensure_encoder_export
    from indexing.refit import FitOptions
    from indexing.runner import IndexOptions
    from indexing.settings import IndexSettings

    name = f"ocr_{'on' if ocr else 'off'}_{int(time.time())}"
    dsn = start_embedded_postgres(Path(tempfile.gettempdir()) / "caption-search-bench-pg", database=name)
    share = BENCH / "share" / name
    env = {
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": str(share),
        "IMAGE_STORE": "folder",
        "IMAGES_DIR": str(folder),
        "INDEX_OCR": "on" if ocr else "off",
    }
    settings = IndexSettings.from_env(env)
    settings = dataclasses.replace(settings, encoder_dir=ensure_encoder_export(DATA / "cache"))
    options = IndexOptions(
        batch_size=settings.batch_size,
        workers=settings.workers,
        show_progress=False,
        fit=FitOptions(vector_index=settings.strategy.vector_index, show_progress=False),
    )
    started = time.perf_counter()
    summary = index_images(settings, captioner, options)
    seconds = time.perf_counter() - started
    service = build_service(Settings.from_env({**env, "BUNDLE_CHECK_SECONDS": "0"}))
    ranks: list[int | None] = []
    answered = 0
    for picture in made:
        hits = [hit.name for hit in service.search(picture.words.lower(), 10).hits]
        answered += bool(hits)
        ranks.append(hits.index(picture.name) if picture.name in hits else None)
    queries = max(1, len(made))
    return {
        "images": summary.indexed,
        "images/s": summary.indexed / seconds,
        "R@1": sum(r == 0 for r in ranks) / queries,
        "R@10": sum(r is not None for r in ranks) / queries,
        "no result": 1 - answered / queries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drawings", type=int, default=300, help="demo drawings in the collection")
    parser.add_argument("--text", type=int, default=100, help="pictures with text in the collection")
    parser.add_argument("--cost-sample", type=int, default=40, help="pictures timed for the read stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--search-only", action="store_true", help="only part 3, the indexing and search")
    args = parser.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    record = DATA / "demo" / "demo.json"
    if not record.is_file():
        raise SystemExit("no demo: run ./dev demo first (its captioner and drawings are used)")
    captioner = Path(json.loads(record.read_text(encoding="utf-8"))["checkpoint"])
    folder, drawings, made = collection(args.drawings, args.text, args.seed)
    print(f"collection: {len(drawings)} drawings + {len(made)} pictures with text, in {folder}\n")

    if not args.search_only:
        rng = random.Random(args.seed)
        half = args.cost_sample // 2
        sample = [f"drawings/{p.name}" for p in rng.sample(drawings, half)]
        sample += [p.name for p in rng.sample(made, args.cost_sample - half)]
        off, on = read_stage_cost(folder, sample, captioner)
        print(f"### Read stage per picture, {len(sample)} pictures (half drawings, half text), alternated\n")
        print("| OCR | median ms per picture |\n|---|---|")
        print(f"| off | {off:.1f} |\n| on | {on:.1f} |\n| on / off | {on / off:.1f}x |\n")

        print("### Minimum confidence: noise on drawings and words read in text pictures\n")
        print("| min confidence | drawings with a kept word | text pictures fully read |\n|---|---|---|")
        for threshold, noisy, found in thresholds(folder, drawings, made):
            mark = " (default)" if threshold == DEFAULT_MIN_CONFIDENCE else ""
            print(f"| {threshold:.0f}{mark} | {noisy:.3f} | {found:.3f} |")

    warm = BENCH / "warm-up"  # a first run exports models once (ONNX): not part of either figure
    if not warm.is_dir():
        warm.mkdir(parents=True)
        for path in drawings[:8]:
            shutil.copyfile(path, warm / path.name)
    index_and_search(warm, [], captioner, ocr=False)
    print("\n### Real indexing and SearchService (defaults), each text picture's words as the query\n")
    print(
        "| INDEX_OCR | images | images/s | R@1 | R@10 | queries with no result |\n|---|---|---|---|---|---|"
    )
    for ocr in (False, True):
        got = index_and_search(folder, made, captioner, ocr)
        print(
            f"| {'on' if ocr else 'off'} | {got['images']:.0f} | {got['images/s']:.1f} | {got['R@1']:.3f} | "
            f"{got['R@10']:.3f} | {got['no result']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
