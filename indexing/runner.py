"""The runner: compose list -> read -> caption -> encode -> (assign) -> store -> (fit -> publish).

It is handed a ``Pipeline``: its reader (the source and the decode workers), its mapper (models that
turn decoded images into rows) and its writer (PostgreSQL in production, a dictionary in tests). A
first run captions everything, then fits and publishes a bundle. Later runs are incremental: new
images are assigned to the active bundle's clusters with its PCA, and images gone from the source are
deleted. Every batch is one writer call, so a run killed at any point resumes where it stopped.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from core.bundle import BundleError, SearchBundle, load_bundle
from core.images import ImageStore
from indexing.mapper import Mapped, Mapper, Models
from indexing.ocr import Ocr
from indexing.plan import Plan, plan_run, remove_unlisted
from indexing.read import DecodedBatch, Reader
from indexing.refit import FitOptions, refit
from indexing.report import RunSummary, SkipLog, progress
from indexing.write import Writer

__all__ = [
    "IndexOptions",
    "MapEngine",
    "Models",
    "Pipeline",
    "active_bundle",
    "mapper_factory",
    "pipeline",
    "run_index",
]

log = logging.getLogger(__name__)
PERMANENT_SKIPS = frozenset({"empty", "undecodable", "too_large", "invalid_name"})

AfterBatch = Callable[[int], None]
# The mapper into a run's space: (encoder folder, active bundle or None on a first run) -> Mapper.
MapperFactory = Callable[[Path, SearchBundle | None], Mapper]
# Where the map stages run: (spool, encoder folder, active bundle or None, source location, summary) ->
# each batch's decoded images (pixels may be left out) and rows. None in a Pipeline: this process, with
# its reader's DataLoader workers and its mapper; ``ray_engine.RayEngine``: a Ray cluster.
MapEngine = Callable[
    [Path, Path, SearchBundle | None, str, RunSummary], Iterator[tuple[DecodedBatch, Mapped]]
]


@dataclass(frozen=True)
class IndexOptions:
    batch_size: int = 32
    workers: int = 2
    beam_size: int = 5
    captions_per_image: int = 5  # the caption and up to 4 other beam hypotheses, embedded as their mean
    max_length: int = 20
    allow_empty_source: bool = False
    show_progress: bool = True
    skip_log: Path | None = None
    fit: FitOptions = field(default_factory=FitOptions)


@dataclass(frozen=True)
class Pipeline:
    """What a run is handed: where images come from, how they become rows, where rows go."""

    reader: Reader
    mapper: MapperFactory  # the space is known only once the run has found the active bundle
    writer: Writer
    share: Path  # the model share: the active bundle is read from it, a new one published to it
    encoder_dir: Path  # the encoder of a first run; later runs use the active bundle's
    after_batch: AfterBatch | None = None  # called with the batch number once a batch is stored
    engine: MapEngine | None = None  # None: the map stages run in this process


def mapper_factory(models: Models, options: IndexOptions) -> MapperFactory:
    """``models``' mapper with the run's beam search settings, into the space a run finds."""
    return partial(
        models.mapper,
        beam_size=options.beam_size,
        max_length=options.max_length,
        captions_per_image=options.captions_per_image,
    )


def pipeline(
    open_source: Callable[[], ImageStore],
    writer: Writer,
    share: Path,
    encoder_dir: Path,
    models: Models,
    options: IndexOptions,
    after_batch: AfterBatch | None = None,
    *,
    ocr: Ocr | None = None,
) -> Pipeline:
    """The standard pipeline: DataLoader workers preprocessing for ``models``' captioner (and reading
    the text in each picture with ``ocr``; None: no OCR stage), its mapper."""
    reader = Reader(open_source, models.preprocess, options.batch_size, options.workers, ocr)
    return Pipeline(reader, mapper_factory(models, options), writer, share, encoder_dir, after_batch)


def active_bundle(writer: Writer, share: Path) -> SearchBundle | None:
    """The active bundle when its rows are complete in this writer; None means a first run."""
    try:
        bundle = load_bundle(share)
    except BundleError as exc:
        log.info("no usable active bundle (%s): this run fits a new one", exc)
        return None
    if not writer.has_version(bundle.version):
        log.warning("bundle %s has no rows in this database: this run fits a new one", bundle.version)
        return None
    return bundle


def run_index(run: Pipeline, options: IndexOptions) -> RunSummary:
    """Bring the index up to date with the source; returns what was done."""
    summary = RunSummary("index")
    skip_log = SkipLog(options.skip_log, summary)
    writer = run.writer
    source = run.reader.open_source()
    bundle = active_bundle(writer, run.share)
    encoder_dir = run.encoder_dir if bundle is None else bundle.encoder_dir  # the active space's
    run_id = uuid.uuid4().hex
    try:
        with tempfile.TemporaryDirectory(prefix="index-spool-") as scratch:
            plan = plan_run(
                source,
                writer,
                run_id,
                Path(scratch) / "pending.jsonl",
                summary,
                skip_log,
                show_progress=options.show_progress,
            )
            remove_unlisted(
                writer, source.location, run_id, summary, allow_empty_source=options.allow_empty_source
            )
            log.info(
                "%d images listed, %d already indexed, %d to caption",
                summary.seen,
                summary.already_indexed,
                plan.pending,
            )
            if plan.pending:
                engine = run.engine or partial(_map_here, run)
                batches = engine(plan.spool, encoder_dir, bundle, source.location, summary)
                _store_mapped(run, batches, plan, options.show_progress, summary, skip_log)
        writer.clear_listings()
        if bundle is None:
            if writer.count_catalog():
                refit(writer, run.share, encoder_dir, options.fit, summary)
        else:
            writer.refresh_cluster_sizes(bundle.version)
            summary.bundle_version = bundle.version
            if bundle.vector_storage != options.fit.vector_storage:
                # The rows went into the version's own index, which PostgreSQL kept as it was built.
                log.info(
                    "bundle %s keeps its %s index; INDEX_VECTOR_STORAGE=%s applies from the next refit",
                    bundle.version,
                    bundle.vector_storage,
                    options.fit.vector_storage,
                )
    finally:
        skip_log.close()
        summary.db_retries = writer.retries
    return summary


def _map_here(
    run: Pipeline,
    spool: Path,
    encoder_dir: Path,
    bundle: SearchBundle | None,
    location: str,
    summary: RunSummary,
) -> Iterator[tuple[DecodedBatch, Mapped]]:
    """The local engine: the reader's DataLoader workers decode, this process maps."""
    mapper = run.mapper(encoder_dir, bundle)
    batches = run.reader.batches(spool)
    while True:
        with summary.timed("wait for decode"):
            decoded: DecodedBatch | None = next(batches, None)
        if decoded is None:
            return
        summary.seconds["read (workers)"] += decoded.read_seconds
        summary.seconds["decode (workers)"] += decoded.decode_seconds
        yield decoded, mapper.map(decoded, location, summary)


def _store_mapped(
    run: Pipeline,
    batches: Iterator[tuple[DecodedBatch, Mapped]],
    plan: Plan,
    show_progress: bool,
    summary: RunSummary,
    skip_log: SkipLog,
) -> None:
    """Write the mapped batches as they come, one writer call (one transaction) each."""
    bar = progress(plan.pending, "caption", enabled=show_progress)
    for number, (decoded, mapped) in enumerate(batches, start=1):
        permanent = [s for s in decoded.skips if s.reason in PERMANENT_SKIPS]
        with summary.timed("store"):
            run.writer.store_batch(mapped.rows, permanent, mapped.index_rows)
        for skip in decoded.skips:
            skip_log.add(skip)
        summary.indexed += len(decoded.items)
        bar.update(len(decoded.items) + len(decoded.skips))
        if run.after_batch is not None:
            run.after_batch(number)
    bar.close()
