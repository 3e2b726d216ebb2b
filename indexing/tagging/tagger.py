"""Tags from the captioner's own backbone pass: its pooled features through the ImageNet-1k head.

The captioner's backbone is the frozen ImageNet EfficientNet-Lite0, so its feature grid, averaged, is
exactly what the published classifier head was trained on: tagging costs one (1280 x 1000) matrix
product per image on top of captioning, not a second forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from indexing.tagging.tags import Tag, TagOptions, image_tags, softmax
from indexing.tagging.vocabulary import ClassWords

if TYPE_CHECKING:
    import torch

# docs/tags.md: the weight of the tags' embedding against the captions' in an image's embedding, and
# the tag options, chosen on the validation splits of openclipart and the Tux Paint set together.
DEFAULT_TAG_WEIGHT = 0.6
DEFAULT_TAG_OPTIONS = TagOptions(top_classes=5, min_depth=6)


@dataclass(frozen=True)
class Tagger:
    head: torch.nn.Module  # pooled features (B, E) -> ImageNet-1k logits (B, 1000)
    vocabulary: Sequence[ClassWords]
    options: TagOptions = DEFAULT_TAG_OPTIONS

    def probabilities(self, features: torch.Tensor) -> np.ndarray:
        """Feature grids (B, P, E) of the backbone -> (B, 1000) class probabilities."""
        import torch

        with torch.no_grad():
            logits = self.head(features.float().mean(dim=1).cpu())
        return softmax(logits.numpy())

    def tag_features(self, features: torch.Tensor) -> list[list[Tag]]:
        """Feature grids (B, P, E) -> per image its tags, names before generic words."""
        if len(features) == 0:
            return []
        return image_tags(self.probabilities(features), self.vocabulary, self.options)
