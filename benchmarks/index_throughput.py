"""End-to-end indexing throughput (decode + caption + encode + store) and where the time goes.

    .venv/bin/python -m benchmarks.index_throughput [--images 256] [--device cpu] [--checkpoint PATH] \
        [--precision fp32] [--workers 1] [--batch-size 32]

Without --checkpoint it builds the default captioner (ModelConfig defaults: EfficientNet-Lite0 at 224 px,
512-wide attention/LSTM) with ImageNet backbone weights and an untrained decoder over a 5,000-word
vocabulary: the speed of a trained model, with captions that usually run to --max-length (the worst
case). Images are generated 640x480 JPEGs. Every image is also tagged from the same backbone pass, as
the product does. Also compares the two sentence encoders on the captions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def default_checkpoint(path: Path) -> Path:
    import torch

    from training.checkpoint import save_checkpoint
    from training.model import ModelConfig, ShowAttendTell
    from training.vocab import Vocabulary

    torch.manual_seed(0)
    vocab = Vocabulary.build([[f"w{i}" for i in range(5000)]])
    config = ModelConfig(vocab_size=len(vocab))
    model = ShowAttendTell(config)
    save_checkpoint(
        path, {"model_config": config.to_dict(), "vocab": vocab.to_list(), "model": model.state_dict()}
    )
    return path


def make_images(folder: Path, count: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    base = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    for i in range(count):
        Image.fromarray(np.roll(base, i * 7, axis=1)).save(folder / f"{i:06d}.jpg", quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=20)
    parser.add_argument("--precision", default="fp32", help="fp32, bf16 or fp16 (CUDA only)")
    parser.add_argument("--skip-encoder-comparison", action="store_true")
    args = parser.parse_args()

    import psycopg2

    from core.database import (
        apply_schema,
        make_connector,
        start_embedded_postgres,
        stop_embedded_postgres,
    )
    from core.images import LocalFolderStore
    from indexing import loaders
    from indexing.encoder_export import ensure_encoder_export
    from indexing.refit import FitOptions
    from indexing.runner import IndexOptions, Models, pipeline, run_index
    from indexing.session import Database
    from indexing.write import PostgresWriter

    scratch = Path(tempfile.mkdtemp(prefix="index-bench-"))
    try:
        checkpoint = args.checkpoint or default_checkpoint(scratch / "default.pt")
        make_images(scratch / "images", args.images)
        encoder_dir = ensure_encoder_export(Path(".data") / "cache")
        dsn = os.environ.get("DATABASE_URL") or start_embedded_postgres(scratch / "pg")
        conn = psycopg2.connect(dsn)
        apply_schema(conn)
        conn.close()
        captioner = loaders.captioner(checkpoint, args.device, args.precision)
        tagger = loaders.tagger(captioner.config.backbone)
        run_models = Models(captioner, "bench", loaders.onnx_encoder, tagger)
        options = IndexOptions(
            batch_size=args.batch_size,
            workers=args.workers,
            beam_size=args.beam_size,
            max_length=args.max_length,
            show_progress=False,
            fit=FitOptions(show_progress=False),
        )
        started = time.perf_counter()
        run = pipeline(
            lambda: LocalFolderStore(scratch / "images"),
            PostgresWriter(Database(make_connector(dsn))),
            scratch / "share",
            encoder_dir,
            run_models,
            options,
        )
        summary = run_index(run, options)
        total = time.perf_counter() - started
        _print(summary.seconds, summary.indexed, total, args)
        if not args.skip_encoder_comparison:
            _compare_encoders(dsn, encoder_dir)
    finally:
        if not os.environ.get("DATABASE_URL"):
            stop_embedded_postgres(scratch / "pg")
        shutil.rmtree(scratch, ignore_errors=True)


def _print(seconds: dict[str, float], images: int, total: float, args: argparse.Namespace) -> None:
    import torch

    print(
        f"{images} images, device {args.device}, {args.precision}, batch {args.batch_size}, beam {args.beam_size}, "
        f"max length {args.max_length}, {args.workers} decode worker(s), torch threads {torch.get_num_threads()}"
    )
    print(f"end to end: {total:.1f} s, {images / total:.2f} images/s (fit and publish included)")
    print(f"{'stage':24} {'seconds':>8} {'ms/image':>9}")
    for stage, value in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"{stage:24} {value:8.2f} {1000 * value / max(images, 1):9.1f}")


def _compare_encoders(dsn: str, encoder_dir: Path) -> None:
    import psycopg2
    from sentence_transformers import SentenceTransformer

    from core.text_encoder import OnnxSentenceEncoder
    from indexing.encoder_export import default_encoder_path

    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT caption FROM catalog ORDER BY image_id")
        texts = [r[0] for r in cur.fetchall()] * 4
    conn.close()
    onnx = OnnxSentenceEncoder(encoder_dir, spin=False)
    torch_model = SentenceTransformer(str(default_encoder_path()), device="cpu")
    rates = {}
    for name, fn in (
        ("onnx (default)", lambda: onnx.encode(texts)),
        ("sentence-transformers torch", lambda: torch_model.encode(texts, batch_size=64)),
    ):
        fn()
        started = time.perf_counter()
        fn()
        rates[name] = len(texts) / (time.perf_counter() - started)
    print(f"{'encoder':28} {'captions/s':>10}")
    for name, rate in rates.items():
        print(f"{name:28} {rate:10.0f}")


if __name__ == "__main__":
    main()
