"""The picture encoder the Function runs (ONNX, numpy preprocessing) against the indexer's torch pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.picture_encoder import CONFIG_FILE, OnnxPictureEncoder, PictureEncoderError
from indexing import loaders
from indexing.picture_export import ensure_picture_export
from tests.indexing.tagging.lite0 import write_lite0_checkpoint
from training.caption import load_captioner
from training.images import load_image
from training.synthetic import make_shapes


@pytest.fixture(scope="module")
def lite0(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, its exported picture encoder folder)."""
    folder = tmp_path_factory.mktemp("picture")
    checkpoint = write_lite0_checkpoint(folder / "lite0.pt")
    return checkpoint, ensure_picture_export(folder / "cache", checkpoint)


def test_onnx_features_and_tags_equal_the_indexers_torch_pass(
    lite0: tuple[Path, Path], tmp_path: Path
) -> None:
    checkpoint, folder = lite0
    names = make_shapes(tmp_path, 6)
    Image.open(tmp_path / names[0]).convert("RGBA").save(tmp_path / "alpha.png")  # to_rgb's compositing
    Image.open(tmp_path / names[1]).convert("L").save(tmp_path / "grey.jpg", quality=90)
    pictures = [load_image(tmp_path / name) for name in [*names, "alpha.png", "grey.jpg"]]
    captioner = load_captioner(checkpoint)
    tagger = loaders.tagger("efficientnet_lite0")
    assert tagger is not None

    encoder = OnnxPictureEncoder(folder)
    pixels = np.stack([encoder.pixels(img) for img in pictures])  # (B, 3, S, S), numpy only
    torch_pixels = torch.stack([captioner.preprocess(img) for img in pictures])
    np.testing.assert_array_equal(pixels, torch_pixels.numpy())
    features = captioner.encode(torch_pixels)  # (B, P, E)
    pooled, probabilities = encoder.run(pixels)
    np.testing.assert_allclose(pooled, features.mean(dim=1).numpy(), atol=1e-4)
    np.testing.assert_allclose(probabilities, tagger.probabilities(features), atol=1e-4)
    indexed = tagger.tag_features(features)
    for img, tags in zip(pictures, indexed, strict=True):
        read = encoder.encode(img).tags
        if tags:  # the indexer's tags; a picture with none still reads as its most probable class
            assert [word for word, _ in read] == [tag.text for tag in tags]
        else:
            assert len(read) == 1


def test_export_records_what_the_function_needs_and_is_reused(lite0: tuple[Path, Path]) -> None:
    checkpoint, folder = lite0
    info = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    assert info["image_size"] == 224 and info["dim"] == 1280
    assert info["mean"] == [127.0 / 255.0] * 3  # EfficientNet-Lite's own scaling, not ImageNet's
    assert info["tags"]["top_classes"] == 5
    assert ensure_picture_export(folder.parent, checkpoint) == folder  # cached by checkpoint


def test_a_backbone_without_an_imagenet_head_cannot_be_exported(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="no ImageNet classifier"):
        ensure_picture_export(tmp_path, tiny_checkpoint)
    assert list(tmp_path.iterdir()) == []  # no half-written export left behind


def test_a_folder_without_the_model_is_refused(lite0: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text((lite0[1] / CONFIG_FILE).read_text())
    with pytest.raises(PictureEncoderError, match="has no model.onnx"):
        OnnxPictureEncoder(tmp_path)
