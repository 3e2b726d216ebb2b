"""Heavy objects built once per process, lazily: the captioner, its tagger and the sentence encoders."""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.text_encoder import OnnxSentenceEncoder
    from indexing.tagging.tagger import Tagger
    from training.caption import Captioner

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def captioner(checkpoint: Path, device: str, precision: str = "fp32") -> Captioner:
    """The captioner of a checkpoint written by training.train, on ``device`` ('cpu', 'cuda', ...), at
    ``precision`` (training.precision.PRECISIONS)."""
    from training.caption import load_captioner

    return load_captioner(checkpoint, device=device, precision=precision)


@functools.lru_cache(maxsize=2)
def tagger(backbone: str) -> Tagger | None:
    """Tags from ``backbone``'s features with its own ImageNet-1k head; None where it has none."""
    from indexing.tagging.tagger import Tagger
    from indexing.tagging.vocabulary import load_vocabulary
    from training.backbones import imagenet_head

    try:
        head = imagenet_head(backbone)
    except ValueError as exc:
        log.warning("images get no tags: %s", exc)
        return None
    return Tagger(head, load_vocabulary())


@functools.lru_cache(maxsize=4)
def onnx_encoder(folder: Path, threads: int | None = None) -> OnnxSentenceEncoder:
    """The query path's encoder: identical embeddings at index and query time."""
    from core.text_encoder import OnnxSentenceEncoder

    return OnnxSentenceEncoder(folder, threads=threads, spin=False)


@functools.lru_cache(maxsize=8)
def checkpoint_id(checkpoint: Path) -> str:
    """How rows name the checkpoint that captioned them: file name and the start of its SHA-256."""
    digest = hashlib.sha256()
    with checkpoint.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{checkpoint.name}@{digest.hexdigest()[:12]}"


def pick_device(name: str) -> str:
    """'auto' is CUDA when there is a GPU, else the CPU; anything else is passed through."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
