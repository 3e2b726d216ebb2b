"""Export the captioner's image encoder and ImageNet head to the ONNX folder core.picture_encoder runs.

The search Function has no torch: a query picture goes through this export instead. It is the same
frozen backbone the indexer captions and tags with, up to its pooled features, plus the published
ImageNet-1k head, so a picture gets exactly the tags the indexer would give it. Preprocessing is not in
the graph; ``core.pictures.pixels`` does it in numpy as ``training.images.preprocess_image`` does.

Needs the indexing extra (torch); the query path never imports this module.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from core.picture_encoder import CONFIG_FILE, MODEL_FILE, VOCABULARY_FILE

ONNX_OPSET = 17


def export_picture_encoder(checkpoint: Path, out_dir: Path) -> dict[str, Any]:
    """Write model.onnx (pixels (1, 3, S, S) -> pooled features (1, E), ImageNet logits (1, 1000)),
    picture.json and the tag vocabulary into ``out_dir``; returns what picture.json holds.

    One picture a call: EfficientNet-Lite's padding exports only with static shapes, and the Function
    reads one query picture at a time."""
    import torch

    from indexing.tagging.tagger import DEFAULT_TAG_OPTIONS
    from indexing.tagging.vocabulary import VOCABULARY_FILE as SHIPPED_VOCABULARY
    from training.backbones import imagenet_head, spec
    from training.caption import load_captioner

    captioner = load_captioner(checkpoint, "cpu")
    config = captioner.config
    head = imagenet_head(config.backbone)  # ValueError: a backbone with no ImageNet head has no tags

    backbone_net = captioner.model.encoder.backbone
    sample = torch.zeros(1, 3, config.image_size, config.image_size)
    with torch.no_grad():
        grid = tuple(backbone_net(sample).shape[2:])
    if grid != (config.grid_size, config.grid_size):
        # Only then is the encoder's adaptive pooling the identity, which ONNX cannot export here.
        raise ValueError(f"the backbone's grid {grid} at {config.image_size} px is not the captioner's")

    class PictureModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone_net
            self.head = head

        def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            pooled = self.backbone(pixels).mean(dim=(2, 3))  # (B, E, G, G) -> (B, E), as Tagger pools
            return pooled, self.head(pooled)  # (B, E), (B, 1000)

    backbone = spec(config.backbone)
    info: dict[str, Any] = {
        "backbone": config.backbone,
        "checkpoint_sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
        "image_size": config.image_size,
        "mean": list(backbone.mean),
        "std": list(backbone.std),
        "dim": backbone.channels,
        "tags": {
            "top_classes": DEFAULT_TAG_OPTIONS.top_classes,
            "min_depth": DEFAULT_TAG_OPTIONS.min_depth,
            "min_confidence": DEFAULT_TAG_OPTIONS.min_confidence,
            "max_generic": DEFAULT_TAG_OPTIONS.max_generic,
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, torch.no_grad(), warnings.catch_warnings():
        # EfficientNet-Lite's fixed padding slices trip the exporter's notice that it cannot fold them:
        # harmless (the graph is checked against torch), and it filled the demo's output.
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        scratch_model = Path(scratch) / MODEL_FILE
        torch.onnx.export(
            PictureModel().eval(),
            (sample,),
            str(scratch_model),
            input_names=["pixels"],
            output_names=["pooled", "logits"],
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        shutil.move(str(scratch_model), out_dir / MODEL_FILE)
    shutil.copyfile(SHIPPED_VOCABULARY, out_dir / VOCABULARY_FILE)
    (out_dir / CONFIG_FILE).write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
    return info


def ensure_picture_export(cache_dir: Path, checkpoint: Path) -> Path:
    """The picture encoder of ``checkpoint``, exported once into ``cache_dir/picture-onnx-<sha>``."""
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    target = cache_dir / f"picture-onnx-{digest}"
    if not (target / CONFIG_FILE).is_file():
        scratch = cache_dir / f"picture-onnx-{digest}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            export_picture_encoder(checkpoint, scratch)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
    return target
