"""Fixtures for the indexing pipeline: a tiny trained captioner and small image folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexing.refit import FitOptions
from indexing.runner import IndexOptions, Models
from training.synthetic import write_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny-captioner") / "tiny.pt")


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoint: Path) -> Models:
    from indexing import loaders

    return Models(
        loaders.captioner(tiny_checkpoint, "cpu"),
        loaders.checkpoint_id(tiny_checkpoint),
        loaders.onnx_encoder,
    )


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
