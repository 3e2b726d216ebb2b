"""How to build a run's models, as plain data: what a process on another machine needs to load them.

The local command line loads the models from a recipe in its own process; the Ray engine sends the
recipe to its actors, which load the same models through the same cached loaders.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from indexing.mapper import Models
from indexing.read import Preprocess
from indexing.tagging.tagger import DEFAULT_TAG_WEIGHT


@dataclass(frozen=True)
class ModelRecipe:
    checkpoint: Path  # the captioner's, written by training.train
    device: str = "cpu"  # cpu, cuda, cuda:N or auto (resolved where the models are loaded)
    threads: int | None = None  # ONNX Runtime threads of the sentence encoder; None: its default
    tag_weight: float = DEFAULT_TAG_WEIGHT
    precision: str = "fp32"  # the captioner's: fp32, bf16 or fp16 (CUDA only); training.precision.PRECISIONS

    def load(self) -> Models:
        """The captioner, its id, the encoder loader and the tagger, each built once per process."""
        from indexing import loaders

        captioner = loaders.captioner(self.checkpoint, loaders.pick_device(self.device), self.precision)
        return Models(
            captioner,
            loaders.checkpoint_id(self.checkpoint),
            partial(loaders.onnx_encoder, threads=self.threads),
            loaders.tagger(captioner.config.backbone),
            self.tag_weight,
        )

    def preprocess(self) -> Preprocess:
        """The captioner's preprocessing as a small picklable function (decode tasks need no model)."""
        from indexing import loaders
        from training.backbones import spec
        from training.images import preprocess_image

        config = loaders.captioner(self.checkpoint, "cpu").config
        backbone = spec(config.backbone)
        return partial(preprocess_image, image_size=config.image_size, mean=backbone.mean, std=backbone.std)
