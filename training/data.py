"""Caption datasets: Karpathy-split, plain COCO and COCO 2017 readers, splits, and torch Datasets."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from training.images import load_image, preprocess_image
from training.vocab import PAD_ID, Vocabulary

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class ImageRecord:
    image_id: str
    path: str  # relative to the dataset's image root, '/'-separated
    split: str
    captions: tuple[tuple[str, ...], ...]
    # Human-written tags, not captions: never trained on; the retrieval evaluation asks with them.
    keywords: tuple[str, ...] = ()


def tokenize(text: str) -> list[str]:
    """Lower-case words and numbers; punctuation dropped."""
    return _WORD.findall(text.lower())


def split_for(key: str, val_fraction: float = 0.05, test_fraction: float = 0.05) -> str:
    """A split that depends only on `key` (e.g. a file path): stable across runs and machines."""
    bucket = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64
    if bucket < test_fraction:
        return "test"
    if bucket < test_fraction + val_fraction:
        return "val"
    return "train"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {path}: {exc}") from None


def load_karpathy(path: Path) -> list[ImageRecord]:
    """Read a Karpathy-split JSON (`dataset_coco.json`); `restval` counts as train."""
    return _karpathy_records(_read_json(path), path)


def _karpathy_records(data: Any, path: Path) -> list[ImageRecord]:
    if not isinstance(data, dict) or "images" not in data:
        raise ValueError(f"not a Karpathy split file (no 'images'): {path}")
    records = []
    for i, img in enumerate(data["images"]):
        split = "train" if img["split"] == "restval" else img["split"]
        if split not in SPLITS:
            raise ValueError(f"unknown split {img['split']!r} for image {img.get('filename')}")
        rel = "/".join(p for p in (img.get("filepath", ""), img["filename"]) if p)
        captions = tuple(
            tuple(s["tokens"]) if "tokens" in s else tuple(tokenize(s.get("raw", "")))
            for s in img["sentences"]
        )
        image_id = str(img.get("cocoid", img.get("imgid", i)))
        records.append(ImageRecord(image_id, rel, split, captions, tuple(img.get("keywords", ()))))
    return records


def _coco_images(data: Any, path: Path) -> list[tuple[str, str, tuple[tuple[str, ...], ...]]]:
    """(image id, file name, tokenised captions) per captioned image of a COCO captions file, by id.

    An annotation whose `image_id` is not in "images" raises: the file is not what it claims to be.
    Images without a caption are skipped and counted in the log.
    """
    if not isinstance(data, dict) or "annotations" not in data or "images" not in data:
        raise ValueError(f"not a COCO captions file (needs 'images' and 'annotations'): {path}")
    captions: dict[Any, list[tuple[str, ...]]] = {img["id"]: [] for img in data["images"]}
    for ann in data["annotations"]:
        if ann["image_id"] not in captions:
            raise ValueError(
                f"annotation {ann.get('id', '?')} points at image id {ann['image_id']}, "
                f"which is not in 'images': {path}"
            )
        captions[ann["image_id"]].append(tuple(tokenize(ann["caption"])))
    images = sorted(data["images"], key=lambda im: im["id"])
    uncaptioned = sum(1 for img in images if not captions[img["id"]])
    if uncaptioned:
        log.info("skipped %d of %d images without a caption in %s", uncaptioned, len(images), path)
    return [
        (str(img["id"]), img["file_name"], tuple(captions[img["id"]]))
        for img in images
        if captions[img["id"]]
    ]


def load_coco_captions(
    path: Path, image_dir: str = "", val_fraction: float = 0.05, test_fraction: float = 0.05
) -> list[ImageRecord]:
    """Read a plain COCO `captions_*.json`; splits come from a hash of each file name.

    Paths are `image_dir/file_name` (just `file_name` without `image_dir`). Errors and skipped
    images as in `load_coco2017`.
    """
    return _coco_captions_records(_read_json(path), path, image_dir, val_fraction, test_fraction)


def _coco_captions_records(
    data: Any, path: Path, image_dir: str = "", val_fraction: float = 0.05, test_fraction: float = 0.05
) -> list[ImageRecord]:
    records = []
    for image_id, name, captions in _coco_images(data, path):
        rel = f"{image_dir}/{name}" if image_dir else name
        records.append(ImageRecord(image_id, rel, split_for(rel, val_fraction, test_fraction), captions))
    return records


# COCO 2017's own layout: annotation file -> the folder of its images.
COCO_2017 = {
    "annotations/captions_train2017.json": "train2017",
    "annotations/captions_val2017.json": "val2017",
}


def load_coco2017(root: Path) -> list[ImageRecord]:
    """Read COCO 2017 as distributed: `root/annotations/captions_{train,val}2017.json`.

    train2017 is the "train" split; val2017's 5,000 images go to "val" or "test" by a hash of the
    path (`split_for` with half each: about 2,500 each, the same on every machine). Paths are
    relative to `root` ("train2017/000000000009.jpg"); image ids are COCO's. Only the annotation
    files are read here: images are opened when encoded, under `root` or another given image root.
    A missing annotation file, or an annotation whose image id is not in that file's "images",
    raises `ValueError` naming the file. Images without a caption are skipped and counted in the log.
    """
    root = Path(root)
    missing = [name for name in COCO_2017 if not (root / name).is_file()]
    if missing:
        raise ValueError(f"incomplete COCO 2017 layout: no {', '.join(missing)} in {root}")
    records = []
    for name, folder in COCO_2017.items():
        path = root / name
        for image_id, file_name, captions in _coco_images(_read_json(path), path):
            rel = f"{folder}/{file_name}"
            split = "train" if folder == "train2017" else split_for(rel, 0.5, 0.5)
            records.append(ImageRecord(image_id, rel, split, captions))
    return records


def load_dataset(path: Path) -> list[ImageRecord]:
    """Records from any caption dataset this package reads, chosen by what `path` is.

    A directory: COCO 2017's own layout (`load_coco2017`). A JSON file with "annotations": a plain
    COCO captions file (`load_coco_captions`, paths relative to its folder). Any other JSON file:
    a Karpathy split (`load_karpathy`).
    """
    path = Path(path)
    if path.is_dir():
        return load_coco2017(path)
    if not path.is_file():
        raise ValueError(f"no such dataset (a Karpathy or COCO JSON, or a COCO 2017 folder): {path}")
    data = _read_json(path)
    if isinstance(data, dict) and "annotations" in data:
        return _coco_captions_records(data, path)
    return _karpathy_records(data, path)


def default_image_root(dataset: Path) -> Path:
    """Where a dataset's image paths start: a COCO 2017 folder itself, or a JSON file's folder."""
    dataset = Path(dataset)
    return dataset if dataset.is_dir() else dataset.parent


def write_karpathy(path: Path, records: Sequence[ImageRecord], dataset: str) -> None:
    """Write records as a Karpathy-style JSON that `load_karpathy` reads back unchanged."""
    images = []
    for i, r in enumerate(records):
        folder, _, name = r.path.rpartition("/")
        image: dict[str, Any] = {
            "imgid": i,
            "cocoid": r.image_id,
            "filepath": folder,
            "filename": name,
            "split": r.split,
            "sentences": [{"tokens": list(c), "raw": " ".join(c)} for c in r.captions],
        }
        if r.keywords:
            image["keywords"] = list(r.keywords)
        images.append(image)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"dataset": dataset, "images": images}), encoding="utf-8")


def select(records: Sequence[ImageRecord], split: str) -> list[ImageRecord]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return [r for r in records if r.split == split]


def cap_repeated_captions(records: Sequence[ImageRecord], limit: int) -> list[ImageRecord]:
    """Keep a caption on at most `limit` of the images that share it; images left without one are dropped.

    Which images keep it is a hash of their paths, so it is the same on every machine and spread
    across the collection rather than the first `limit` in path order.
    """
    if limit < 1:
        raise ValueError(f"max_per_caption must be >= 1, got {limit}")
    owners: dict[tuple[str, ...], list[int]] = {}
    for i, r in enumerate(records):
        for c in dict.fromkeys(r.captions):
            owners.setdefault(c, []).append(i)
    keep: set[tuple[int, tuple[str, ...]]] = set()
    for caption, rows in owners.items():
        rows = sorted(rows, key=lambda i: hashlib.sha1(records[i].path.encode()).digest())[:limit]
        keep.update((i, caption) for i in rows)
    out = []
    for i, r in enumerate(records):
        captions = tuple(c for c in r.captions if (i, c) in keep)
        if captions:
            out.append(dataclasses.replace(r, captions=captions))
    return out


def caption_samples(
    records: Sequence[ImageRecord], vocab: Vocabulary, max_words: int
) -> list[tuple[int, list[int]]]:
    """(record index, encoded caption) for every non-empty caption; empty ones are skipped and logged."""
    samples, empty = [], 0
    for i, r in enumerate(records):
        for tokens in r.captions:
            if not tokens:
                empty += 1
                continue
            samples.append((i, vocab.encode(tokens, max_words)))
    if empty:
        log.info("skipped %d empty captions", empty)
    return samples


class FeatureCaptionDataset(Dataset[tuple[torch.Tensor, list[int]]]):
    """Cached encoder features (N, P, E), one sample per caption."""

    def __init__(self, features: torch.Tensor, samples: Sequence[tuple[int, list[int]]]) -> None:
        self.features = features
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, list[int]]:
        row, ids = self.samples[i]
        return self.features[row].float(), ids


class ImageCaptionDataset(Dataset[tuple[torch.Tensor, list[int]]]):
    """Images decoded and preprocessed in the worker, one sample per caption (for fine-tuning)."""

    def __init__(
        self,
        image_root: Path,
        records: Sequence[ImageRecord],
        samples: Sequence[tuple[int, list[int]]],
        image_size: int,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
    ) -> None:
        self.image_root = Path(image_root)
        self.records = list(records)
        self.samples = list(samples)
        self.image_size, self.mean, self.std = image_size, mean, std

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, list[int]]:
        row, ids = self.samples[i]
        img = load_image(self.image_root / self.records[row].path)
        return preprocess_image(img, self.image_size, self.mean, self.std), ids


def collate(
    batch: Sequence[tuple[torch.Tensor, list[int]]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack inputs; pad captions to the longest in this batch. Returns (x, captions (B, T), lengths (B,))."""
    xs = torch.stack([x for x, _ in batch])
    lengths = torch.tensor([len(ids) for _, ids in batch], dtype=torch.long)
    captions = torch.full((len(batch), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, (_, ids) in enumerate(batch):
        captions[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return xs, captions, lengths
