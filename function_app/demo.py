"""The one-command demo: a captioner, a picture collection and its index, built on a fresh machine.

1. the corpus and captioner: a fixed sample of the openclipart drawings (Debian's openclipart-svg) or,
   without that package, the generated shapes; a small Show, Attend and Tell captioner is trained on
   it with the project's own code (training/demo.py);
2. the index: the real indexing pipeline (indexing/cli.py) captions every image with that captioner,
   encodes, fits, stores into the embedded PostgreSQL and publishes the bundle;
3. serving is the caller's (function_app/cli.py).
Later runs find the bundle and the recorded corpus and go straight to serving.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from function_app.settings import Settings

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


def reset_demo(settings: Settings, demo_dir: Path) -> None:
    """Forget an earlier demo: its corpus, captioner, bundle and embedded database (local defaults only)."""
    import shutil

    from indexing.database import stop_embedded_postgres

    if settings.embedded_pg_dir is None or "MODEL_SHARE_PATH" in os.environ:
        raise SystemExit(
            "--rebuild only resets the local defaults: unset DATABASE_URL, POSTGRES_HOST and MODEL_SHARE_PATH"
        )
    stop_embedded_postgres(settings.embedded_pg_dir)
    shutil.rmtree(settings.embedded_pg_dir, ignore_errors=True)
    shutil.rmtree(settings.model_share, ignore_errors=True)
    shutil.rmtree(demo_dir, ignore_errors=True)


def build_demo(
    settings: Settings, demo_dir: Path, cache_dir: Path, max_images: int = DEMO_IMAGES
) -> DemoCorpus:
    """Train the demo captioner and index its corpus through the real pipeline; returns what it built."""
    from indexing import cli as index_cli
    from indexing.encoder_export import ensure_encoder_export
    from training.demo import demo_dataset, train_demo_captioner

    started = time.perf_counter()
    print(f"[1/3] corpus and captioner ({max_images} images; a progress bar per epoch)", flush=True)
    checkpoint = train_demo_captioner(demo_dir, max_images)
    dataset = demo_dataset(demo_dir, max_images)
    source = "openclipart" if "openclipart" in dataset.parent.name else "shapes"
    corpus = DemoCorpus(dataset.parent / "images", source, checkpoint)
    print(f"      {source} corpus in {corpus.images_dir}, captioner {checkpoint}", flush=True)

    print("[2/3] sentence encoder (exported to ONNX once)", flush=True)
    encoder_dir = ensure_encoder_export(cache_dir)

    print("[3/3] indexing: caption, encode, fit, store, publish", flush=True)
    environment = {
        "CAPTIONER_CHECKPOINT": str(checkpoint),
        "IMAGE_STORE": "folder",
        "IMAGES_DIR": str(corpus.images_dir),
        "ENCODER_DIR": str(encoder_dir),
        "MODEL_SHARE_PATH": str(settings.model_share),
    }
    if settings.database_url:
        environment["DATABASE_URL"] = settings.database_url
    elif settings.embedded_pg_dir is not None:
        environment["EMBEDDED_PG_DIR"] = str(settings.embedded_pg_dir)
    previous = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        status = index_cli.main(["index"])
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if status != 0:
        raise SystemExit(f"indexing the demo corpus failed (exit {status}); run ./dev demo again to resume")
    demo_record(demo_dir).write_text(
        json.dumps({"images_dir": str(corpus.images_dir), "source": source, "checkpoint": str(checkpoint)}),
        encoding="utf-8",
    )
    print(f"demo built in {time.perf_counter() - started:.0f} s", flush=True)
    return corpus
