"""Checkpoints as plain data: state dicts + config + vocabulary (+ optimizer and progress).

Loaded with `torch.load(weights_only=True)`, so a checkpoint can never run code.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from training.model import ModelConfig, ShowAttendTell
from training.vocab import Vocabulary

FORMAT = "show-attend-tell/1"


class CheckpointMismatch(ValueError):
    """A checkpoint that does not fit the model config or vocabulary it is used with."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"not a readable checkpoint: {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a captioner checkpoint ({FORMAT}): {path}")
    for key in ("model_config", "vocab", "model"):
        if key not in data:
            raise ValueError(f"checkpoint lacks {key!r}: {path}")
    return data


def check_vocab(checkpoint: dict[str, Any], vocab: Vocabulary) -> None:
    saved = list(checkpoint["vocab"])
    if saved == vocab.to_list():
        return
    first = next((i for i, (a, b) in enumerate(zip(saved, vocab.words, strict=False)) if a != b), None)
    where = (
        f"first difference at id {first}: {saved[first]!r} vs {vocab.words[first]!r}"
        if first is not None
        else ""
    )
    raise CheckpointMismatch(
        f"checkpoint vocabulary differs: {len(saved)} words vs {len(vocab)}"
        + (f" ({where})" if where else "")
    )


def check_config(
    checkpoint: dict[str, Any], config: ModelConfig, ignore: tuple[str, ...] = ("pretrained",)
) -> None:
    saved = checkpoint["model_config"]
    wanted = config.to_dict()
    diffs = [
        f"{k} {saved.get(k)!r} vs {v!r}" for k, v in wanted.items() if k not in ignore and saved.get(k) != v
    ]
    if diffs:
        raise CheckpointMismatch("checkpoint model config differs: " + ", ".join(diffs))


def model_from_checkpoint(checkpoint: dict[str, Any]) -> tuple[ShowAttendTell, Vocabulary]:
    """Rebuild the model (weights from the checkpoint, not from any package) and its vocabulary."""
    config = ModelConfig.from_dict(dict(checkpoint["model_config"]))
    vocab = Vocabulary.from_list(checkpoint["vocab"])
    if len(vocab) != config.vocab_size:
        raise CheckpointMismatch(
            f"checkpoint vocabulary has {len(vocab)} words but config says {config.vocab_size}"
        )
    model = ShowAttendTell(dataclasses.replace(config, pretrained=False))
    model.config = config
    model.load_state_dict(checkpoint["model"])
    return model, vocab
