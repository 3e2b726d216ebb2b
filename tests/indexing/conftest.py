"""Fixtures for the indexing pipeline: a tiny trained captioner and small image folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexing.refit import FitOptions
from indexing.runner import IndexOptions, Models


def write_tiny_checkpoint(path: Path, seed: int = 1) -> Path:
    """An untrained tiny captioner whose captions still vary with the image (seed 1, decoder scaled).

    Training even the tiny preset takes half a minute here; the pipeline only needs a deterministic
    captioner of the right format, not a good one.
    """
    import torch

    from training.checkpoint import save_checkpoint
    from training.model import ModelConfig, ShowAttendTell
    from training.vocab import Vocabulary

    torch.manual_seed(seed)
    vocab = Vocabulary.build(
        [
            [
                "a",
                "big",
                "small",
                "red",
                "green",
                "blue",
                "yellow",
                "circle",
                "square",
                "triangle",
                "on",
                "the",
                "left",
                "right",
            ]
        ]
    )
    config = ModelConfig(
        vocab_size=len(vocab),
        backbone="tiny",
        pretrained=False,
        image_size=32,
        grid_size=4,
        embed_dim=32,
        attention_dim=32,
        decoder_dim=48,
        dropout=0.1,
    )
    model = ShowAttendTell(config)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.mul_(3.0)
    save_checkpoint(
        path, {"model_config": config.to_dict(), "vocab": vocab.to_list(), "model": model.state_dict()}
    )
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny-captioner") / "tiny.pt")


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoint: Path) -> Models:
    from indexing import models

    return Models(
        models.captioner(tiny_checkpoint, "cpu"), models.checkpoint_id(tiny_checkpoint), models.onnx_encoder
    )


def make_shapes(folder: Path, count: int, seed: int = 0, start: int = 0) -> list[str]:
    """``count`` generated PNGs named shape-NNNNN.png in ``folder``; returns their names."""
    import random

    from training.synthetic import COLOURS, POSITIONS, SHAPES, SIZES, _draw

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(start, start + count):
        img = _draw(
            rng.choice(SHAPES),
            COLOURS[rng.choice(sorted(COLOURS))],
            SIZES[rng.choice(sorted(SIZES))],
            POSITIONS[rng.choice(sorted(POSITIONS))],
            32,
        )
        name = f"shape-{i:05d}.png"
        img.save(folder / name)
        names.append(name)
    return names


def quiet_options(**overrides: object) -> IndexOptions:
    fit = FitOptions(pca_dim=8, clusters=4, show_progress=False)
    values: dict[str, object] = {
        "batch_size": 8,
        "workers": 0,
        "max_length": 8,
        "show_progress": False,
        "fit": fit,
    }
    return IndexOptions(**{**values, **overrides})  # type: ignore[arg-type]
