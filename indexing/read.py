"""The read stage: fetch images from the store and decode them in DataLoader workers.

The main process never decodes: workers read each image's bytes, decode them (EXIF orientation,
alpha, CMYK, GIF first frame, huge images shrunk while decoding, decompression bombs refused) and
preprocess them for the captioner, so the model only ever waits on a queue of ready tensors. The work
list is a spool file (one JSON line per image), so a million pending names are never held in memory.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from core.images import ImageNotFound, ImageStore, ImageStoreUnavailable
from indexing.catalog import Skip
from indexing.ocr import Ocr
from indexing.report import printable_name
from indexing.taken import Taken, taken_of

_BYTES_IO_REPR = re.compile(r"<_io\.BytesIO object at 0x[0-9a-f]+>")


@dataclass(frozen=True)
class WorkItem:
    image_id: str
    name: str
    etag: str
    modified: str = ""  # the store's last-modified time, ISO 8601: when the picture was taken without EXIF

    def to_line(self) -> str:
        return json.dumps([self.image_id, self.name, self.etag, self.modified]) + "\n"

    @classmethod
    def from_line(cls, line: str) -> WorkItem:
        return cls(*json.loads(line))

    def modified_at(self) -> datetime:
        """The last-modified time as an aware datetime; the epoch when the listing gave none."""
        return datetime.fromisoformat(self.modified) if self.modified else datetime.fromtimestamp(0, UTC)


# What the captioner expects of a decoded image: (3, S, S) at its size and normalisation
# (``Captioner.preprocess``). Workers are forked, so it needs no pickling.
Preprocess = Callable[[Image.Image], torch.Tensor]


@dataclass(frozen=True)
class DecodedBatch:
    pixels: torch.Tensor  # (B, 3, S, S), B = len(items)
    items: list[WorkItem]
    skips: list[Skip]
    read_seconds: float  # summed over the images of the batch, in the workers
    decode_seconds: float
    taken: list[Taken] = field(default_factory=list)  # per item: EXIF DateTimeOriginal, else modified
    texts: list[str] | None = None  # per item, the words OCR read in it (indexing/ocr.py); None: OCR off


class DecodeFailure(ValueError):
    """An image that cannot be indexed as it is; ``reason`` is a short code for the summary."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def decode_image(data: bytes, name: str) -> Image.Image:
    """Decode image bytes to RGB (see training.images.load_image); DecodeFailure says why it cannot."""
    from training.images import ImageDecodeError, load_image

    if not data:
        raise DecodeFailure("empty", f"{name}: zero-byte file")
    try:
        return load_image(cast(Any, io.BytesIO(data)))
    except ImageDecodeError as exc:
        message = _BYTES_IO_REPR.sub(name, str(exc)).replace(f"{name}: ", "", 1)
        reason = "too_large" if message.startswith("image too large") else "undecodable"
        raise DecodeFailure(reason, f"{name}: {message}") from None


@dataclass(frozen=True)
class Decoded:
    pixels: torch.Tensor  # (3, S, S)
    taken: Taken
    text: str | None = None  # the words OCR read in it; None: OCR off


def read_item(
    store: ImageStore, item: WorkItem, prep: Preprocess, ocr: Ocr | None = None
) -> tuple[Decoded | Skip, float, float]:
    """The decoded image (with the words ``ocr`` read in it) or the Skip saying why not; plus seconds
    spent reading and decoding (OCR included)."""
    shown = printable_name(item.name)
    if shown != item.name:  # the database and the URLs of search results hold names as UTF-8 text
        detail = f"{shown}: the file name is not valid UTF-8; rename the file to index it"
        return Skip(item.image_id, shown, "invalid_name", detail), 0.0, 0.0
    started = time.perf_counter()
    try:
        data = store.read(item.name)
    except ImageNotFound as exc:
        return Skip(item.image_id, item.name, "gone", str(exc)), time.perf_counter() - started, 0.0
    except ImageStoreUnavailable as exc:
        return Skip(item.image_id, item.name, "unreadable", str(exc)), time.perf_counter() - started, 0.0
    read = time.perf_counter() - started
    try:
        image = decode_image(data, item.name)
        pixels = prep(image)
    except DecodeFailure as exc:
        return (
            Skip(item.image_id, item.name, exc.reason, str(exc)),
            read,
            time.perf_counter() - started - read,
        )
    text = ocr.read(image) if ocr is not None else None
    decoded = Decoded(pixels, taken_of(data, item.modified_at()), text)
    return decoded, read, time.perf_counter() - started - read


class SpoolDataset(IterableDataset[tuple[WorkItem, Decoded | Skip, float, float]]):
    """The spool file's items, each worker taking every n-th line; each item read and decoded."""

    def __init__(
        self, spool: Path, open_store: Callable[[], ImageStore], prep: Preprocess, ocr: Ocr | None = None
    ) -> None:
        self.spool = spool
        self.open_store = open_store
        self.prep = prep
        self.ocr = ocr

    def __iter__(self) -> Iterator[tuple[WorkItem, Decoded | Skip, float, float]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        store = self.open_store()  # one client per worker: connections are not shared across a fork
        with self.spool.open(encoding="utf-8") as lines:
            for index, line in enumerate(lines):
                if index % workers == worker:
                    item = WorkItem.from_line(line)
                    yield (item, *read_item(store, item, self.prep, self.ocr))


def collate(samples: Sequence[tuple[WorkItem, Decoded | Skip, float, float]]) -> DecodedBatch:
    items, tensors, skips, taken, texts = [], [], [], [], []
    for item, result, _, _ in samples:
        if isinstance(result, Skip):
            skips.append(result)
        else:
            items.append(item)
            tensors.append(result.pixels)
            taken.append(result.taken)
            texts.append(result.text)
    pixels = torch.stack(tensors) if tensors else torch.zeros((0, 3, 1, 1))  # (B, 3, S, S)
    seconds = sum(s[2] for s in samples), sum(s[3] for s in samples)
    read_texts = [t or "" for t in texts] if any(t is not None for t in texts) else None
    return DecodedBatch(pixels, items, skips, *seconds, taken, read_texts)


def make_loader(
    spool: Path,
    open_store: Callable[[], ImageStore],
    prep: Preprocess,
    batch_size: int,
    workers: int,
    ocr: Ocr | None = None,
) -> DataLoader[Any]:
    """Batches of decoded images in spool order (round-robin over the workers' shards)."""
    return DataLoader(
        SpoolDataset(spool, open_store, prep, ocr),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate,
        prefetch_factor=4 if workers else None,
        multiprocessing_context="fork" if workers else None,
    )


class Reader:
    """The read stage as a run uses it: the source (a factory, so that each DataLoader worker opens its
    own client), listed in the main process and read and decoded in ``workers`` processes."""

    def __init__(
        self,
        open_source: Callable[[], ImageStore],
        prep: Preprocess,
        batch_size: int,
        workers: int,
        ocr: Ocr | None = None,  # None: no OCR stage
    ) -> None:
        self.open_source = open_source
        self.prep = prep
        self.batch_size = batch_size
        self.workers = workers
        self.ocr = ocr

    def batches(self, spool: Path) -> Iterator[DecodedBatch]:
        """The spool's images decoded, ``batch_size`` at a time (see ``make_loader``)."""
        return iter(make_loader(spool, self.open_source, self.prep, self.batch_size, self.workers, self.ocr))
