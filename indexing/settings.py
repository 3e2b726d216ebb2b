"""Settings of the indexing commands, read from the environment once, at start-up.

The shared parts (model share, database, image store, strategy) come from core/settings.py, so they
mean the same as for the search API; the indexer adds CAPTIONER_CHECKPOINT, ENCODER_DIR, the INDEX_*
tuning knobs, and where the map stages run (INDEX_ENGINE local or ray; RAY_ADDRESS, INDEX_RAY_*).
SEARCH_STRATEGY names the vector index the indexer builds (hnsw or ivfflat; none for clusters and
exact). A missing or malformed setting fails at start-up naming the variable.
INDEX_OCR=on adds the OCR stage (indexing/ocr.py; off by default, docs/ocr.md), keeping the words
read at INDEX_OCR_MIN_CONFIDENCE or above. INDEX_VECTOR_STORAGE (vector or halfvec) is what a new
version's text ANN index is built on (core/vector_index.py; the version's bundle records it).
Command-line flags override the tuning knobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.env import EnvReader, SettingsError
from core.settings import (
    LOCAL_DATA,
    DatabaseSettings,
    ImageStoreSettings,
    model_share_from_env,
    running_in_azure,
    strategy_from_env,
)
from core.vector_index import DEFAULT_STORAGE, STORAGES, Strategy, VectorStorage, vector_storage
from indexing.ocr import DEFAULT_MIN_CONFIDENCE
from indexing.queue import QueueSettings
from indexing.tagging.tagger import DEFAULT_TAG_WEIGHT
from training.precision import PRECISIONS

__all__ = ["ENGINES", "IndexSettings", "SettingsError"]

ENGINES = ("local", "ray")  # where the map stages run: this process, or a Ray cluster (ray_engine.py)


@dataclass(frozen=True)
class IndexSettings:
    model_share: Path
    database: DatabaseSettings
    images: ImageStoreSettings
    strategy: Strategy  # its vector index is built for every new bundle version
    captioner_checkpoint: Path | None
    encoder_dir: Path
    device: str
    precision: str  # the captioner's (training.precision.PRECISIONS); mixed precision pays on a GPU
    batch_size: int
    workers: int
    beam_size: int
    captions_per_image: int
    max_length: int
    threads: int  # torch and ONNX Runtime threads in the main process; 0 = their defaults
    log_dir: Path
    tag_weight: float = DEFAULT_TAG_WEIGHT  # of an image's tags against its captions in its embedding
    engine: str = "local"  # one of ENGINES
    ray_address: str | None = None  # None: a Ray started on this machine for the run
    ray_actors: int = 2  # model actors, each holding the models once
    ray_actor_cpus: float = 1.0  # CPUs each model actor holds (decode tasks hold a quarter each)
    ocr_min_confidence: float | None = None  # the OCR stage's word confidence (0..100); None: OCR off
    queue: QueueSettings | None = None  # the blob-event queue drain-queue answers (INDEX_QUEUE_*)
    vector_storage: VectorStorage = DEFAULT_STORAGE  # a new version's text ANN index: vector or halfvec

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IndexSettings:
        in_azure = running_in_azure(env)
        reader = EnvReader(env)
        text, integer = reader.text, reader.integer
        checkpoint = text("CAPTIONER_CHECKPOINT")
        return cls(
            model_share=model_share_from_env(reader, in_azure=in_azure),
            database=DatabaseSettings.from_env(reader, in_azure=in_azure),
            images=ImageStoreSettings.from_env(reader, in_azure=in_azure),
            strategy=strategy_from_env(reader),
            captioner_checkpoint=Path(checkpoint) if checkpoint else None,
            encoder_dir=Path(text("ENCODER_DIR", str(LOCAL_DATA / "cache" / "minilm-onnx")) or ""),
            device=text("INDEX_DEVICE", "auto") or "auto",
            precision=_precision(text("INDEX_PRECISION", "fp32") or "fp32"),
            batch_size=integer("INDEX_BATCH_SIZE", 32, 1, 4096),
            workers=integer("INDEX_WORKERS", 2, 0, 64),
            beam_size=integer("INDEX_BEAM_SIZE", 5, 1, 20),
            captions_per_image=integer("INDEX_CAPTIONS_PER_IMAGE", 5, 1, 20),
            max_length=integer("INDEX_MAX_LENGTH", 20, 2, 100),
            threads=integer("INDEX_THREADS", 0, 0, 1024),
            log_dir=Path(text("INDEX_LOG_DIR", str(LOCAL_DATA / "index-logs")) or ""),
            tag_weight=reader.number("INDEX_TAG_WEIGHT", DEFAULT_TAG_WEIGHT, 0.0, 1.0),
            engine=_engine(text("INDEX_ENGINE", "local") or "local"),
            ray_address=text("RAY_ADDRESS"),
            ray_actors=integer("INDEX_RAY_ACTORS", 2, 1, 4096),
            ray_actor_cpus=reader.number("INDEX_RAY_ACTOR_CPUS", 1.0, 0.0, 1024.0),
            ocr_min_confidence=_ocr(reader),
            queue=QueueSettings.from_env(reader),
            vector_storage=_vector_storage(text("INDEX_VECTOR_STORAGE", DEFAULT_STORAGE) or DEFAULT_STORAGE),
        )


def _ocr(reader: EnvReader) -> float | None:
    switch = (reader.text("INDEX_OCR", "off") or "off").lower()
    if switch not in ("on", "off"):
        raise SettingsError(f"INDEX_OCR must be on or off, got {switch!r}")
    confidence = reader.number("INDEX_OCR_MIN_CONFIDENCE", DEFAULT_MIN_CONFIDENCE, 0.0, 100.0)
    return confidence if switch == "on" else None


def _vector_storage(value: str) -> VectorStorage:
    try:
        return vector_storage(value.lower())
    except ValueError:
        raise SettingsError(
            f"INDEX_VECTOR_STORAGE must be one of {', '.join(STORAGES)}, got {value!r}"
        ) from None


def _precision(value: str) -> str:
    if value not in PRECISIONS:
        raise SettingsError(f"INDEX_PRECISION must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


def _engine(value: str) -> str:
    if value not in ENGINES:
        raise SettingsError(f"INDEX_ENGINE must be one of {', '.join(ENGINES)}, got {value!r}")
    return value
