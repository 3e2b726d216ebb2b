"""Caption datasets: Karpathy-split and plain COCO JSON readers, splits, and torch Datasets."""

from __future__ import annotations

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


def load_karpathy(path: Path) -> list[ImageRecord]:
    """Read a Karpathy-split JSON (`dataset_coco.json`); `restval` counts as train."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if "images" not in data:
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


def load_coco_captions(
    path: Path, image_dir: str = "", val_fraction: float = 0.05, test_fraction: float = 0.05
) -> list[ImageRecord]:
    """Read a plain COCO `captions_*.json`; splits come from a hash of each file name."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if "annotations" not in data or "images" not in data:
        raise ValueError(f"not a COCO captions file (needs 'images' and 'annotations'): {path}")
    captions: dict[Any, list[tuple[str, ...]]] = {}
    for ann in data["annotations"]:
        captions.setdefault(ann["image_id"], []).append(tuple(tokenize(ann["caption"])))
    records = []
    for img in sorted(data["images"], key=lambda im: im["id"]):
        rel = f"{image_dir}/{img['file_name']}" if image_dir else img["file_name"]
        split = split_for(rel, val_fraction, test_fraction)
        records.append(ImageRecord(str(img["id"]), rel, split, tuple(captions.get(img["id"], []))))
    return records


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
