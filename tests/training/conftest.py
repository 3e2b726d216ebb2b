"""Fixtures for the captioner tests: a synthetic shapes corpus and a tiny trained run, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.synthetic import make_shapes_dataset
from training.train import PRESETS, TrainConfig, train


@pytest.fixture(scope="session")
def shapes_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"), n_images=120, image_px=48)


def tiny_config(dataset: Path, out: Path, **overrides: object) -> TrainConfig:
    preset = dict(PRESETS["tiny"])
    values = {**preset, "dataset": str(dataset), "out_dir": str(out), **overrides}
    return TrainConfig(**values)


@pytest.fixture(scope="session")
def tiny_run(shapes_json: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory with best.pt/last.pt from a few epochs of the tiny preset on shapes."""
    out = tmp_path_factory.mktemp("tiny-run") / "run"
    train(tiny_config(shapes_json, out, epochs=25, patience=100))
    return out
