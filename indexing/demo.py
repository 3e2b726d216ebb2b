"""The demo corpus and its index, built on a fresh machine without any download.

For now the corpus is the generated shapes set (training/synthetic.py) indexed with its reference
captions; the captioner replaces those captions once it is part of the pipeline.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from indexing.database import Connection
from indexing.encoder_export import default_encoder_path, export_sentence_encoder
from indexing.publish import CaptionedImage, build_index, image_identity

log = logging.getLogger(__name__)
DEMO_IMAGES = 400


def ensure_encoder_export(cache_dir: Path) -> Path:
    """The default sentence encoder as ONNX, exported once into ``cache_dir``."""
    target = cache_dir / "minilm-onnx"
    if not (target / "encoder.json").is_file():
        scratch = cache_dir / "minilm-onnx.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        export_sentence_encoder(default_encoder_path(), scratch)
        scratch.rename(target)
    return target


def generate_demo_corpus(demo_dir: Path, images: int = DEMO_IMAGES) -> list[CaptionedImage]:
    """Write the demo images under ``demo_dir/images`` and return them with their captions."""
    from training.data import load_karpathy
    from training.synthetic import make_shapes_dataset

    records = load_karpathy(make_shapes_dataset(demo_dir, n_images=images, image_px=160))
    location = f"folder:{demo_dir / 'images'}"
    corpus = []
    for record in records:
        name = record.path.removeprefix("images/")
        caption = " ".join(record.captions[0])
        corpus.append(
            CaptionedImage(image_identity(location, name, ""), name, caption, captioner="reference")
        )
    return corpus


def build_demo_index(demo_dir: Path, share: Path, cache_dir: Path, conn: Connection) -> str:
    """Generate the corpus, export the encoder, index and publish; returns the bundle version."""
    started = time.perf_counter()
    corpus = generate_demo_corpus(demo_dir)
    log.info("generated %d demo images in %.1f s", len(corpus), time.perf_counter() - started)
    encoder_dir = ensure_encoder_export(cache_dir)
    version = build_index(corpus, conn=conn, share=share, encoder_dir=encoder_dir)
    log.info("indexed the demo corpus as bundle %s in %.1f s", version, time.perf_counter() - started)
    return version
