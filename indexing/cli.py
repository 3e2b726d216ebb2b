"""Command line of the indexing pipeline.

python -m indexing.cli index    # caption new images, remove deleted ones (first run: fit and publish)
python -m indexing.cli refit    # re-fit PCA and K-means on the whole catalog, swap in the new bundle
python -m indexing.cli status   # what the index holds
python -m indexing.cli prune    # remove rows and bundles of inactive versions
python -m indexing.cli drain-queue  # index once per batch of blob events from the queue (indexing/drain.py)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from core.connect import open_images
from indexing.settings import IndexSettings, SettingsError

log = logging.getLogger("indexing")


def _database(
    settings: IndexSettings, attempts: int = 6, first_delay: float = 1.0, *, writer: bool = True
) -> Any:
    """The indexer's retrying session on the configured database, its schema applied first; a writer
    holds the writer lock (one indexing run at a time), a reader (``status``) does not wait for it."""
    from core.connect import database_connector
    from core.database import apply_schema
    from indexing.session import Database

    conn = database_connector(settings.database, register_vector=False)()
    apply_schema(conn)
    conn.close()
    return Database(
        database_connector(settings.database), attempts=attempts, first_delay=first_delay, writer=writer
    )


def _encoder_dir(settings: IndexSettings) -> Path:
    """The ONNX encoder folder, exported from the installed model on first use."""
    if not (settings.encoder_dir / "encoder.json").is_file():
        from indexing.encoder_export import ensure_encoder_export

        exported = ensure_encoder_export(settings.encoder_dir.parent)
        if exported != settings.encoder_dir:
            raise SettingsError(
                f"ENCODER_DIR {settings.encoder_dir} holds no exported encoder (encoder.json)"
            )
    return settings.encoder_dir


def _ocr_stage(settings: IndexSettings) -> Any:
    """The OCR stage INDEX_OCR asks for (None: off), checked at start-up: tesseract must be installed
    (on a Ray cluster, on every node: its decode tasks run the stage)."""
    if settings.ocr_min_confidence is None:
        return None
    from indexing.ocr import Ocr, require_tesseract

    require_tesseract()
    return Ocr(settings.ocr_min_confidence)


def _picture_dir(settings: IndexSettings, checkpoint: Path | None) -> Path | None:
    """The captioner's backbone and ImageNet head in ONNX, for the bundle (search by picture), exported
    once per checkpoint beside the text encoder; None where the backbone has no ImageNet head."""
    if checkpoint is None:
        return None
    if not checkpoint.is_file():
        log.warning("the bundle will not search by picture: no captioner checkpoint at %s", checkpoint)
        return None
    from indexing.picture_export import ensure_picture_export

    try:
        return ensure_picture_export(settings.encoder_dir.parent, checkpoint)
    except ValueError as exc:
        log.warning("the bundle will not search by picture: %s", exc)
        return None


def _fit_options(args: argparse.Namespace, settings: IndexSettings, *, picture: Path | None = None) -> Any:
    from indexing.refit import FitOptions

    return FitOptions(
        pca_dim=args.pca_dim,
        clusters=args.clusters,
        show_progress=not args.no_progress,
        vector_index=settings.strategy.vector_index,
        vector_storage=settings.vector_storage,
        picture_dir=picture,
    )


def cmd_index(settings: IndexSettings, args: argparse.Namespace) -> Any:
    from indexing.runner import IndexOptions

    checkpoint = args.checkpoint or settings.captioner_checkpoint
    if checkpoint is None:
        raise SettingsError("CAPTIONER_CHECKPOINT is not set (or pass --checkpoint): index needs a captioner")
    options = IndexOptions(
        batch_size=args.batch_size or settings.batch_size,
        workers=settings.workers if args.workers is None else args.workers,
        beam_size=args.beam_size or settings.beam_size,
        captions_per_image=args.captions_per_image or settings.captions_per_image,
        max_length=args.max_length or settings.max_length,
        allow_empty_source=args.allow_empty_source,
        show_progress=not args.no_progress,
        skip_log=args.skip_log
        or settings.log_dir / f"skipped-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.jsonl",
        fit=_fit_options(args, settings),
    )
    return index_images(
        settings,
        Path(checkpoint),
        options,
        engine=args.engine or settings.engine,
        device=args.device,
        threads=args.threads,
        db_attempts=args.db_attempts,
        db_first_delay=args.db_first_delay,
    )


def index_images(
    settings: IndexSettings,
    checkpoint: Path,
    options: Any,
    *,
    engine: str = "local",
    device: str | None = None,
    threads: int | None = None,
    db_attempts: int = 6,
    db_first_delay: float = 1.0,
) -> Any:
    """Caption and index the configured collection with ``checkpoint``; returns the run's summary.

    The one entry point of an indexing run, for this command line and for the demo. ``engine``:
    "local" maps in this process, "ray" on the Ray cluster at ``settings.ray_address``.
    """
    from indexing import loaders
    from indexing.prune import remove_unpublished
    from indexing.recipe import ModelRecipe
    from indexing.runner import pipeline, run_index
    from indexing.write import PostgresWriter

    if not checkpoint.is_file():
        raise SettingsError(f"captioner checkpoint not found: {checkpoint}")
    ocr = _ocr_stage(settings)
    wanted = device or settings.device
    picked = wanted if engine == "ray" else loaders.pick_device(wanted)  # "auto": each actor's own
    threads = settings.threads if threads is None else threads
    if threads:
        import torch

        torch.set_num_threads(threads)
    log.info("captioning on %s with %s; skipped files are logged to %s", picked, checkpoint, options.skip_log)
    encoder_dir = _encoder_dir(settings)
    from dataclasses import replace

    options = replace(options, fit=replace(options.fit, picture_dir=_picture_dir(settings, checkpoint)))
    db = _database(settings, db_attempts, db_first_delay)
    recipe = ModelRecipe(checkpoint, picked, threads or None, settings.tag_weight, settings.precision)
    source = partial(open_images, settings.images)
    try:
        removed = remove_unpublished(db, settings.model_share)  # under the writer lock ``db`` now holds
        writer = PostgresWriter(db)
        if engine == "ray":
            from indexing.ray_engine import ray_pipeline

            ray = _ray_options(settings, wanted)
            run = ray_pipeline(
                source, writer, settings.model_share, encoder_dir, recipe, options, ray, ocr=ocr
            )
        else:
            run = pipeline(source, writer, settings.model_share, encoder_dir, recipe.load(), options, ocr=ocr)
        summary = run_index(run, options)
    finally:
        db.close()
    summary.removed_unpublished = removed
    return summary


def _ray_options(settings: IndexSettings, device: str) -> Any:
    """The Ray cluster at RAY_ADDRESS and its actors (a GPU each where the device is CUDA)."""
    from indexing.ray_engine import RayOptions

    return RayOptions(
        address=settings.ray_address,
        actors=settings.ray_actors,
        actor_cpus=settings.ray_actor_cpus,
        actor_gpus=1.0 if device.startswith("cuda") else 0.0,
    )


def cmd_refit(settings: IndexSettings, args: argparse.Namespace) -> Any:
    from indexing.prune import remove_unpublished
    from indexing.refit import refit
    from indexing.report import RunSummary
    from indexing.write import PostgresWriter

    summary = RunSummary("refit")
    db = _database(settings, args.db_attempts, args.db_first_delay)
    try:
        summary.removed_unpublished = remove_unpublished(db, settings.model_share)
        refit(
            PostgresWriter(db),
            settings.model_share,
            _encoder_dir(settings),
            _fit_options(args, settings, picture=_picture_dir(settings, settings.captioner_checkpoint)),
            summary,
        )
    finally:
        db.close()
    return summary


def cmd_status(settings: IndexSettings, args: argparse.Namespace) -> dict[str, Any]:
    from indexing import catalog, store
    from indexing.prune import active_version, staging_folders, version_state

    share = settings.model_share
    active = active_version(share)
    db = _database(settings, args.db_attempts, args.db_first_delay, writer=False)  # runs beside an index
    try:
        report = db.run(
            "reading the status",
            lambda conn: {
                "active_bundle": active,
                "catalog_images": catalog.count_catalog(conn),
                "captioners": catalog.captioner_counts(conn),
                "versions": {
                    version: {
                        "rows": rows,
                        "state": version_state(share, version, active),
                        "vector_storage": _vector_storage(share, version),
                    }
                    for version, rows in store.version_row_counts(conn).items()
                },
                "skipped": catalog.skip_counts(conn),
            },
        )
    finally:
        db.close()
    # Left by a killed build (state "unpublished" above, likewise): the next index or refit removes them.
    report["staging_folders"] = [folder.name for folder in staging_folders(share)]
    return report


def _vector_storage(share: Path, version: str) -> str | None:
    """What a published version's text ANN index is built on, from its manifest; None: no bundle."""
    from core.bundle import MANIFEST_FILE, bundles_root, recorded_vector_storage

    try:
        manifest = json.loads((bundles_root(share) / version / MANIFEST_FILE).read_text(encoding="utf-8"))
        return recorded_vector_storage(manifest)
    except (OSError, ValueError):
        return None


def cmd_drain_queue(settings: IndexSettings, args: argparse.Namespace) -> dict[str, Any]:
    from indexing.drain import drain_configured_queue

    # Every index option drain-queue does not take keeps the index command's default (the settings').
    given = {key: value for key, value in vars(args).items() if value is not None}
    index_args = argparse.Namespace(**{**vars(build_parser().parse_args(["index"])), **given})
    return drain_configured_queue(settings, partial(cmd_index, settings, index_args)).to_dict()


def cmd_prune(settings: IndexSettings, args: argparse.Namespace) -> dict[str, Any]:
    from indexing.prune import prune_versions

    db = _database(settings, args.db_attempts, args.db_first_delay)
    try:
        removed = prune_versions(db, settings.model_share, timedelta(seconds=args.grace_seconds))
    finally:
        db.close()
    return {"pruned_versions": removed}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m indexing.cli", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--db-attempts", type=int, default=6, help="tries per database step (default 6)")
        sub.add_argument("--db-first-delay", type=float, default=1.0, help="first retry delay, doubling (s)")
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")
        return sub

    index = command(
        "index", "caption and index new images, remove deleted ones; the first run fits and publishes"
    )
    index.add_argument("--checkpoint", type=Path, help="captioner checkpoint (default CAPTIONER_CHECKPOINT)")
    index.add_argument("--device", help="cpu, cuda, cuda:N or auto (default INDEX_DEVICE, auto)")
    index.add_argument(
        "--batch-size", type=int, help="images per captioning batch (default INDEX_BATCH_SIZE, 32)"
    )
    index.add_argument("--workers", type=int, help="DataLoader decode workers (default INDEX_WORKERS, 2)")
    index.add_argument("--beam-size", type=int, help="beam width (default INDEX_BEAM_SIZE, 5)")
    index.add_argument(
        "--captions-per-image",
        type=int,
        help="beam captions kept and embedded as their mean (default INDEX_CAPTIONS_PER_IMAGE, 5)",
    )
    index.add_argument(
        "--max-length", type=int, help="longest caption in words (default INDEX_MAX_LENGTH, 20)"
    )
    index.add_argument(
        "--engine", choices=["local", "ray"], help="where the map stages run (default INDEX_ENGINE, local)"
    )
    index.add_argument("--threads", type=int, help="torch/ONNX threads (default INDEX_THREADS, 0: theirs)")
    index.add_argument(
        "--skip-log", type=Path, help="JSON-lines log of skipped files (default INDEX_LOG_DIR/...)"
    )
    index.add_argument(
        "--allow-empty-source", action="store_true", help="let an empty listing delete every indexed image"
    )
    drain = command(
        "drain-queue", "index once per batch of blob events in INDEX_QUEUE_NAME, deleting them after"
    )
    drain.add_argument("--checkpoint", type=Path, help="captioner checkpoint (default CAPTIONER_CHECKPOINT)")
    drain.add_argument("--device", help="cpu, cuda, cuda:N or auto (default INDEX_DEVICE, auto)")
    drain.add_argument("--engine", choices=["local", "ray"], help="where the map stages run (INDEX_ENGINE)")
    refit = command("refit", "re-fit PCA and K-means on the catalog and swap in the new bundle")
    for sub in (index, refit, drain):  # a first run of index or drain-queue fits, as refit does
        sub.add_argument(
            "--pca-dim", type=int, help="reduced dimensions (default from the corpus size, <= 128)"
        )
        sub.add_argument("--clusters", type=int, help="K-means clusters (default about sqrt(N))")
    command("status", "print what the index holds, as JSON")
    prune = command("prune", "remove rows and bundle folders of inactive versions past a grace period")
    prune.add_argument(
        "--grace-seconds", type=float, default=300.0, help="keep younger versions (default 300)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    from core.bundle import BundleError
    from core.database import DatabaseUnavailable
    from indexing.session import IndexingError

    handlers = {
        "index": cmd_index,
        "refit": cmd_refit,
        "status": cmd_status,
        "prune": cmd_prune,
        "drain-queue": cmd_drain_queue,
    }
    try:
        settings = IndexSettings.from_env(os.environ)
        result = handlers[args.command](settings, args)
    except (SettingsError, IndexingError, BundleError, DatabaseUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(result, dict):
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(result.render())
        print(json.dumps(result.to_dict(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
