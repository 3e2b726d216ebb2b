"""The one-command demo: a captioner, a picture collection and its index, built on a fresh machine.

1. the corpus and captioner: a fixed sample of the openclipart drawings (Debian's openclipart-svg) or,
   without that package, the generated shapes; a small Show, Attend and Tell captioner is trained on
   it with the project's own code (training/demo.py);
2. the index: the real indexing pipeline (indexing.cli.index_images) captions every image with that
   captioner, encodes, fits, stores into the embedded PostgreSQL and publishes the bundle;
3. serving is the caller's (demo/cli.py).
Later runs find the bundle and the recorded corpus and go straight to serving.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

from indexing.settings import IndexSettings

DEMO_IMAGES = 1000


@dataclass(frozen=True)
class DemoCorpus:
    images_dir: Path
    source: str  # "openclipart" or "shapes"
    checkpoint: Path


def demo_record(demo_dir: Path) -> Path:
    return demo_dir / "demo.json"


def load_demo(demo_dir: Path) -> DemoCorpus | None:
    """What an earlier demo run built, or None."""
    try:
        data = json.loads(demo_record(demo_dir).read_text(encoding="utf-8"))
        corpus = DemoCorpus(Path(data["images_dir"]), data["source"], Path(data["checkpoint"]))
    except (OSError, ValueError, KeyError):
        return None
    return corpus if corpus.images_dir.is_dir() and corpus.checkpoint.is_file() else None


def reset_demo(settings: IndexSettings, demo_dir: Path, *, share_is_default: bool) -> None:
    """Forget an earlier demo: its corpus, captioner, bundle and embedded database (local defaults only)."""
    import shutil

    from core.database import stop_embedded_postgres

    embedded = settings.database.embedded_dir
    if embedded is None or not share_is_default:
        raise SystemExit(
            "--rebuild only resets the local defaults: unset DATABASE_URL, POSTGRES_HOST and MODEL_SHARE_PATH"
        )
    stop_embedded_postgres(embedded)
    shutil.rmtree(embedded, ignore_errors=True)
    shutil.rmtree(settings.model_share, ignore_errors=True)
    shutil.rmtree(demo_dir, ignore_errors=True)


def build_demo(
    settings: IndexSettings, demo_dir: Path, cache_dir: Path, max_images: int = DEMO_IMAGES
) -> DemoCorpus:
    """Train the demo captioner and index its corpus through the real pipeline; returns what it built.

    ``settings`` say where the index goes (database, model share); the images and the captioner are
    the demo's own.
    """
    from indexing.cli import index_images
    from indexing.encoder_export import ensure_encoder_export
    from indexing.refit import FitOptions
    from indexing.runner import IndexOptions
    from training.demo import demo_dataset, train_demo_captioner

    started = time.perf_counter()
    print(f"[1/3] corpus and captioner ({max_images} images; a progress bar per epoch)", flush=True)
    checkpoint = train_demo_captioner(demo_dir, max_images)
    dataset = demo_dataset(demo_dir, max_images)
    source = "openclipart" if "openclipart" in dataset.parent.name else "shapes"
    corpus = DemoCorpus(dataset.parent / "images", source, checkpoint)
    print(f"      {source} corpus in {corpus.images_dir}, captioner {checkpoint}", flush=True)
    print(f"      corpus and captioner in {time.perf_counter() - started:.0f} s", flush=True)

    print("[2/3] sentence encoder (exported to ONNX once)", flush=True)
    encoder_dir = ensure_encoder_export(cache_dir)

    print("[3/3] indexing: caption, encode, fit, store, publish", flush=True)
    folder = dataclasses.replace(settings.images, kind="folder", images_dir=corpus.images_dir)
    settings = dataclasses.replace(settings, images=folder, encoder_dir=encoder_dir)
    options = IndexOptions(
        batch_size=settings.batch_size,
        workers=settings.workers,
        beam_size=settings.beam_size,
        captions_per_image=settings.captions_per_image,
        max_length=settings.max_length,
        skip_log=settings.log_dir / "skipped-demo.jsonl",
        fit=FitOptions(vector_index=settings.strategy.vector_index),
    )
    summary = index_images(settings, checkpoint, options)
    print(summary.render(), flush=True)
    demo_record(demo_dir).write_text(
        json.dumps({"images_dir": str(corpus.images_dir), "source": source, "checkpoint": str(checkpoint)}),
        encoding="utf-8",
    )
    print(f"demo built in {time.perf_counter() - started:.0f} s", flush=True)
    return corpus
