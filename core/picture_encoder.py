"""The query picture's pass through the captioner's backbone and ImageNet head, in ONNX Runtime (no torch).

The folder it loads holds what ``indexing.picture_export.export_picture_encoder`` writes: ``model.onnx``
(pixels (1, 3, S, S) -> pooled features (1, E) and ImageNet-1k logits (1, 1000)), ``picture.json``
(image size, normalisation, tag options) and ``imagenet_tags.json`` (the classes' words).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.class_tags import TagOptions, image_tags, load_class_words, softmax
from core.pictures import square_pixels

MODEL_FILE = "model.onnx"
CONFIG_FILE = "picture.json"
VOCABULARY_FILE = "imagenet_tags.json"


class PictureEncoderError(Exception):
    """The picture encoder folder is missing a file or describes a model this code cannot run."""


@dataclass(frozen=True)
class EncodedPicture:
    pooled: np.ndarray  # (E,) the backbone's feature grid averaged
    tags: tuple[tuple[str, float], ...]  # (word, confidence), names before generic words, as indexed


class OnnxPictureEncoder:
    """A picture -> its pooled backbone features and its tags, exactly as the indexer computes them."""

    def __init__(self, folder: Path, *, threads: int | None = None, spin: bool = True) -> None:
        """``threads``: ONNX Runtime's intra-op threads (None: its default); ``spin=False`` stops idle
        threads from busy-waiting between calls (as OnnxSentenceEncoder's; benchmarks/picture_threads.py)."""
        import onnxruntime

        for name in (MODEL_FILE, CONFIG_FILE, VOCABULARY_FILE):
            if not (folder / name).is_file():
                raise PictureEncoderError(f"picture encoder folder {folder} has no {name}")
        self.config: dict[str, Any] = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        try:
            self.image_size = int(self.config["image_size"])
            self._mean = tuple(float(x) for x in self.config["mean"])
            self._std = tuple(float(x) for x in self.config["std"])
            self._options = TagOptions(**self.config["tags"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PictureEncoderError(f"{folder / CONFIG_FILE} is malformed ({exc})") from None
        self._vocabulary = load_class_words(folder / VOCABULARY_FILE)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )

    def pixels(self, img: Image.Image) -> np.ndarray:
        """(3, S, S) float32: the picture preprocessed as training.images.preprocess_image does."""
        return square_pixels(img, self.image_size, self._mean, self._std)

    def run(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Preprocessed pictures (B, 3, S, S) -> pooled features (B, E), class probabilities (B, 1000)."""
        outputs = [
            self._session.run(None, {"pixels": np.asarray(one[None], dtype=np.float32)})
            for one in pixels  # the graph takes one picture (picture_export.py)
        ]
        pooled = np.concatenate([p for p, _ in outputs])  # (B, E)
        return pooled, softmax(np.concatenate([logits for _, logits in outputs]))

    def encode(self, img: Image.Image) -> EncodedPicture:
        pooled, probabilities = self.run(self.pixels(img)[None])
        tags = image_tags(probabilities, self._vocabulary, self._options)[0]
        if not tags:  # no word reached the floor: the most probable class still says what it shows
            floorless = replace(self._options, min_confidence=0.0)
            tags = image_tags(probabilities, self._vocabulary, floorless)[0][:1]
        return EncodedPicture(pooled[0], tuple((tag.text, tag.confidence) for tag in tags))
