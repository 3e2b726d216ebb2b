"""Build a Karpathy-style captioning corpus from Debian's `openclipart-svg` (public domain).

    python -m training.openclipart --out .data/openclipart [--size 256] [--limit N]

Captions come from each drawing's own metadata: `dc:title` and the first sentence of
`dc:description`, cleaned (e-mail addresses, URLs, author names, "(B and W)" style tags, collection
names and non-English text dropped). Where neither survives, the `rdf:li` keywords make the caption;
otherwise they are kept beside the captions as the image's `keywords` (never trained on: the retrieval
evaluation asks with them).
Splits are a hash of the SVG's path, so they never change between runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import signal
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

from tqdm import tqdm

from training.data import ImageRecord, split_for, tokenize, write_karpathy
from training.vocab import Vocabulary

log = logging.getLogger(__name__)

VAL_FRACTION, TEST_FRACTION = 0.05, 0.10
_COLLECTION = re.compile(r"\b(collection|theme|icons?|iconset|library|cliparts?|submission|sibmission)\b")
_NOISE_KEYWORDS = {
    "hash",
    "icon",
    "icons",
    "computer",
    "unsorted",
    "clip",
    "art",
    "clipart",
    "svg",
    "mime",
    "types",
}
_EMAIL = re.compile(r"\S+@\S+")
_URL = re.compile(r"(https?://|www\.)\S*")
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_BW = re.compile(r"\bb\s*(and|&|/)\s*w\b|\bbw\b", re.IGNORECASE)
_CLIPART_BY = re.compile(r"^\s*clip\s*art\s+by\s+[^-]*-\s*", re.IGNORECASE)


@dataclass(frozen=True)
class SvgMeta:
    title: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    creator: str = ""


def debian_package_files(package: str) -> list[Path]:
    """Files a Debian package installed (empty if it is not installed or dpkg is absent)."""
    try:
        out = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [Path(line) for line in out.splitlines() if line.strip()]


def find_openclipart_root() -> Path | None:
    """The `svg` folder of the installed `openclipart-svg` package, or None."""
    for path in debian_package_files("openclipart-svg"):
        if path.name == "svg" and path.is_dir():
            return path
    return None


def find_english_words() -> Path | None:
    """The word list of the installed `wamerican` package, or None."""
    return next((p for p in debian_package_files("wamerican") if p.name == "american-english"), None)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_metadata(svg: bytes) -> SvgMeta:
    """Title, description, keywords and creator of the drawing (`cc:Work`), whatever the namespaces."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        return SvgMeta()
    work = next((el for el in root.iter() if _local(el.tag) == "Work"), None)
    if work is None:
        return SvgMeta()
    fields: dict[str, str] = {}
    keywords: list[str] = []
    for child in work:
        name = _local(child.tag)
        if name in ("title", "description"):
            fields[name] = (child.text or "").strip()
        elif name == "subject":
            keywords = [(li.text or "").strip() for li in child.iter() if _local(li.tag) == "li" and li.text]
        elif name == "creator":
            fields["creator"] = next(
                (t.text or "" for t in child.iter() if _local(t.tag) == "title"), ""
            ).strip()
    return SvgMeta(
        fields.get("title", ""), fields.get("description", ""), tuple(keywords), fields.get("creator", "")
    )


def clean_text(text: str, creator: str = "") -> list[str]:
    """Caption words from free metadata text: contacts, author, tags, numbers and file-name debris removed."""
    text = _CLIPART_BY.sub("", text).replace("_", " ")
    text = _URL.sub(" ", _EMAIL.sub(" ", text))
    text = _BW.sub(" ", _BRACKETS.sub(" ", text))
    if creator.strip():
        text = re.sub(rf"(\bby\s+)?{re.escape(creator.strip())}", " ", text, flags=re.IGNORECASE)
    text = re.sub(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])|_", " ", text)
    words = [w for w in tokenize(text) if not w.isdigit() and w not in ("svg", "eps")]
    author = set(tokenize(creator))
    return [w for w in words if w not in author] if len(author) > 1 else words


def is_english(words: Sequence[str], dictionary: frozenset[str] | None) -> bool:
    """Cheap language check: at least half of the 3+ letter words are in an English word list."""
    if dictionary is None:
        return True
    longer = [w for w in words if len(w) >= 3 and w.isalpha()]
    if not longer:
        return bool(words)
    return sum(w in dictionary for w in longer) * 2 >= len(longer)


def first_sentence(text: str, max_words: int = 20) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return " ".join(sentence.split()[:max_words])


def captions_for(
    meta: SvgMeta, generic: set[str], dictionary: frozenset[str] | None
) -> tuple[list[tuple[str, ...]], str]:
    """Distinct captions for one drawing and where they came from ('title', 'keywords', ...)."""
    out: list[tuple[str, ...]] = []
    sources = []
    for source, raw in (("title", meta.title), ("description", first_sentence(meta.description))):
        if raw.strip().lower() in generic:
            continue
        words = tuple(clean_text(raw, meta.creator))
        if words and is_english(words, dictionary) and words not in out:
            out.append(words)
            sources.append(source)
    if not out:
        kws = keyword_words(meta, dictionary)[:6]
        if kws:
            out.append(tuple(kws))
            sources.append("keywords")
    return out, "+".join(sources)


def keyword_words(meta: SvgMeta, dictionary: frozenset[str] | None) -> list[str]:
    """The drawing's `rdf:li` keywords as distinct English words, without file-type noise or its author."""
    author = set(tokenize(meta.creator))
    words = [
        w for k in meta.keywords if "_" not in k and "theme" not in k for w in clean_text(k, meta.creator)
    ]
    return [
        w
        for w in dict.fromkeys(words)
        if w not in _NOISE_KEYWORDS and w not in author and (dictionary is None or w in dictionary)
    ]


def generic_texts(
    metas: Sequence[SvgMeta], dictionary: frozenset[str] | None, min_count: int = 20
) -> set[str]:
    """Titles/descriptions that label a whole collection rather than one drawing."""
    counts = Counter(
        t.strip().lower() for m in metas for t in (m.title, first_sentence(m.description)) if t.strip()
    )
    generic = {m.creator.strip().lower() for m in metas if m.creator.strip()}
    for text, n in counts.items():
        if n < min_count:
            continue
        if _COLLECTION.search(text) or not is_english(clean_text(text), dictionary) or len(text.split()) > 3:
            generic.add(text)
    return generic


def _alarm(signum: int, frame: object) -> None:
    raise TimeoutError("rendering took too long")


def rasterise(job: tuple[Path, Path, int, int]) -> tuple[Path, str]:
    """Render one SVG to a square white-background PNG; returns (svg, '' or the error)."""
    svg, png, size, timeout_s = job
    if png.is_file():
        return svg, ""
    import io

    import cairosvg
    from PIL import Image

    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout_s)
    try:
        data = cairosvg.svg2png(url=str(svg), output_width=size)
        img = Image.open(io.BytesIO(data)).convert("RGBA")
        img.thumbnail((size, size))
        canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
        canvas.alpha_composite(img, ((size - img.width) // 2, (size - img.height) // 2))
        png.parent.mkdir(parents=True, exist_ok=True)
        canvas.convert("RGB").save(png)
        return svg, ""
    except Exception as exc:  # any SVG can break the renderer in its own way; skip and report
        return svg, f"{type(exc).__name__}: {str(exc)[:120]}"
    finally:
        signal.alarm(0)


def build_openclipart(
    svg_root: Path,
    out_dir: Path,
    size: int = 256,
    workers: int = 2,
    limit: int | None = None,
    english_words: Path | None = None,
    timeout_s: int = 20,
) -> Path:
    """Rasterise and caption the corpus into `out_dir` (dataset.json, stats.json, images/).

    Re-running skips PNGs that exist. `limit` keeps a fixed pseudo-random sample of N drawings."""
    svg_root, out_dir = Path(svg_root), Path(out_dir)
    dictionary = None
    if english_words is not None:
        dictionary = frozenset(
            w.strip().lower() for w in english_words.read_text(errors="ignore").splitlines()
        )
    files = sorted(p for p in svg_root.rglob("*.svg") if p.is_file() and not p.is_symlink())
    seen: set[str] = set()
    unique: list[tuple[Path, bytes]] = []
    for p in files:
        data = p.read_bytes()
        digest = hashlib.sha1(data).hexdigest()
        if digest not in seen:
            seen.add(digest)
            unique.append((p, data))
    metas = [read_metadata(data) for _, data in unique]
    generic = generic_texts(metas, dictionary)
    candidates, skipped, sources = [], Counter[str](), Counter[str]()
    for (path, _), meta in zip(unique, metas, strict=True):
        caps, source = captions_for(meta, generic, dictionary)
        if not caps:
            skipped["no usable caption"] += 1
            continue
        rel = path.relative_to(svg_root).as_posix()
        tags = () if source == "keywords" else tuple(keyword_words(meta, dictionary))  # else the caption
        candidates.append((path, rel, caps, source, tags))
    if limit is not None:  # a fixed sample across all categories, independent of the split hash
        candidates = sorted(candidates, key=lambda c: hashlib.sha1(f"sample:{c[1]}".encode()).digest())[
            :limit
        ]
        candidates.sort(key=lambda c: c[1])
    jobs = [
        (p, out_dir / "images" / Path(rel).with_suffix(".png"), size, timeout_s)
        for p, rel, _, _, _ in candidates
    ]
    failed: dict[Path, str] = {}
    with Pool(workers) as pool:
        for svg, err in tqdm(
            pool.imap_unordered(rasterise, jobs, chunksize=4), total=len(jobs), desc="rasterise"
        ):
            if err:
                failed[svg] = err
                log.warning("skipping %s: %s", svg, err)
    records = []
    for path, rel, caps, source, tags in candidates:
        if path in failed:
            skipped["render error" if "Timeout" not in failed[path] else "render timeout"] += 1
            continue
        sources[source] += 1
        png_rel = "images/" + Path(rel).with_suffix(".png").as_posix()
        records.append(
            ImageRecord(rel, png_rel, split_for(rel, VAL_FRACTION, TEST_FRACTION), tuple(caps), tags)
        )
    dataset = out_dir / "dataset.json"
    write_karpathy(dataset, records, "openclipart")
    stats = corpus_stats(records, len(files), len(unique), skipped, sources)
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return dataset


def corpus_stats(
    records: Sequence[ImageRecord], n_files: int, n_unique: int, skipped: Counter[str], sources: Counter[str]
) -> dict[str, object]:
    captions = [c for r in records for c in r.captions]
    train_caps = [c for r in records if r.split == "train" for c in r.captions]
    return {
        "svg_files": n_files,
        "unique_drawings": n_unique,
        "images": len(records),
        "skipped": dict(skipped),
        "splits": dict(Counter(r.split for r in records)),
        "captions": len(captions),
        "captions_per_image": round(len(captions) / max(len(records), 1), 3),
        "caption_sources": dict(sources),
        "mean_caption_words": round(sum(map(len, captions)) / max(len(captions), 1), 3),
        "distinct_words_train": len(Vocabulary.build(train_caps)) - 4,
        "vocab_train_min_count_3": len(Vocabulary.build(train_caps, min_count=3)),
        "licence": "public domain (Creative Commons Public Domain Dedication), Debian openclipart-svg",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.openclipart", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--svg-root", type=Path, help="default: the installed openclipart-svg package")
    p.add_argument("--english-words", type=Path, help="default: the installed wamerican word list")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    root = args.svg_root or find_openclipart_root()
    if root is None:
        p.error("openclipart-svg is not installed (apt-get install openclipart-svg) and no --svg-root given")
    words = args.english_words or find_english_words()
    if words is None:
        log.warning("no English word list (apt-get install wamerican): non-English captions are kept")
    print(build_openclipart(root, args.out, args.size, args.workers, args.limit, words))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
