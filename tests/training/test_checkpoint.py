from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from training.checkpoint import (
    CheckpointMismatch,
    check_config,
    check_vocab,
    model_from_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from training.model import ModelConfig, ShowAttendTell
from training.vocab import Vocabulary


def write(tmp_path: Path) -> tuple[Path, ModelConfig, Vocabulary, ShowAttendTell]:
    vocab = Vocabulary.build([["red", "circle", "blue"]])
    cfg = ModelConfig(
        vocab_size=len(vocab),
        backbone="tiny",
        pretrained=False,
        grid_size=2,
        embed_dim=8,
        attention_dim=8,
        decoder_dim=8,
    )
    model = ShowAttendTell(cfg)
    path = tmp_path / "ck.pt"
    save_checkpoint(
        path, {"model_config": cfg.to_dict(), "vocab": vocab.to_list(), "model": model.state_dict()}
    )
    return path, cfg, vocab, model


def test_round_trip_restores_weights(tmp_path: Path) -> None:
    path, cfg, vocab, model = write(tmp_path)
    loaded, loaded_vocab = model_from_checkpoint(read_checkpoint(path))
    assert loaded_vocab == vocab and loaded.config == cfg
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_mismatches_name_what_differs(tmp_path: Path) -> None:
    path, cfg, _vocab, _ = write(tmp_path)
    ck = read_checkpoint(path)
    other = Vocabulary.build([["red", "square", "blue"]])
    with pytest.raises(
        CheckpointMismatch,
        match=r"vocabulary differs: 7 words vs 7 \(first difference at id 5: 'circle' vs 'red'\)",
    ):
        check_vocab(ck, other)
    with pytest.raises(CheckpointMismatch, match="config differs: grid_size 2 vs 3, decoder_dim 8 vs 16$"):
        check_config(ck, dataclasses.replace(cfg, decoder_dim=16, grid_size=3))
    check_config(ck, dataclasses.replace(cfg, pretrained=True))  # weights source is not a mismatch


def test_unreadable_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="not a captioner checkpoint"):
        read_checkpoint(foreign)


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "show-attend-tell/1", "payload": Evil()}, path)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_checkpoint(path)
