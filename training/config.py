"""What a training run is configured with: `TrainConfig` and the named presets the CLI starts from."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data import default_image_root


@dataclass(frozen=True)
class TrainConfig:
    dataset: str
    out_dir: str
    image_root: str | None = None  # default: image_root_path()
    cache_dir: str | None = None  # default: OUT_DIR/../features
    epochs: int = 20
    batch_size: int = 64
    lr: float = 4e-4
    encoder_lr: float = 1e-4
    grad_clip: float = 5.0
    alpha_c: float = 1.0
    max_words: int = 20
    min_count: int = 5
    max_vocab: int = 7500
    patience: int = 5
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    val_beam: int = 1
    checkpoint_every: int = 500
    max_steps: int | None = None  # stop (as if interrupted) after this many steps in this process
    resume: str | None = None
    # Start from this checkpoint's weights with a fresh optimizer and epoch count, e.g. to fine-tune the
    # encoder of a run trained on cached features: same vocabulary and sizes, fine_tune_blocks may differ.
    init_from: str | None = None
    label_smoothing: float = 0.0  # on the training loss only; logged cross-entropy stays plain
    # At most this many training images keep one identical caption (openclipart's icon sets give 186
    # of the demo's 852 drawings "stars shapes geometry"); None keeps all.
    max_per_caption: int | None = None
    # Extra cached views of every training image, each a training sample with the image's captions
    # (training.augment.VIEWS); frozen-encoder runs only.
    augment: tuple[str, ...] = ()
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields except vocab_size

    def image_root_path(self) -> Path:
        """`image_root` if given, else the COCO 2017 folder itself or the dataset JSON's folder."""
        return Path(self.image_root) if self.image_root else default_image_root(Path(self.dataset))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # Xu et al. sizes on the default backbone.
    "paper": {},
    # Minutes on 2 CPU cores with cached features.
    "demo": {
        "epochs": 8,
        "batch_size": 64,
        "lr": 1e-3,
        "min_count": 1,  # every training word: +28 CIDEr on openclipart test (docs/captioner.md)
        "max_words": 16,
        "patience": 3,
        "model": {"embed_dim": 256, "attention_dim": 256, "decoder_dim": 384, "dropout": 0.3},
    },
    # Seconds: random tiny CNN, for tests.
    "tiny": {
        "epochs": 2,
        "batch_size": 16,
        "lr": 3e-3,
        "min_count": 1,
        "max_words": 10,
        "model": {
            "backbone": "tiny",
            "pretrained": False,
            "image_size": 32,
            "grid_size": 4,
            "embed_dim": 32,
            "attention_dim": 32,
            "decoder_dim": 48,
            "dropout": 0.1,
        },
    },
}
