"""The runner: compose list -> read -> caption -> encode -> (assign) -> store -> (fit -> publish).

It is handed its source (a factory, so each DataLoader worker opens its own client), its database
session and the model share; models come from the caller. A first run captions everything, then fits
and publishes a bundle. Later runs are incremental: new images are assigned to the active bundle's
clusters with its PCA, and images gone from the source are deleted. Every batch is one transaction, so
a run killed at any point resumes where it stopped when run again.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from core.bundle import BundleError, SearchBundle, load_bundle
from core.captions import join_captions
from core.database import Connection
from core.images import ImageStore
from indexing import catalog, store
from indexing.catalog import CatalogBatch, Skip
from indexing.plan import plan_run, remove_unlisted
from indexing.read import DecodedBatch, Preprocess, make_loader
from indexing.refit import FitOptions, encoder_id, refit
from indexing.report import RunSummary, SkipLog, progress
from indexing.session import Database
from indexing.stages import SentenceEncoder, assign, caption, encode_images

if TYPE_CHECKING:
    from training.caption import Captioner

log = logging.getLogger(__name__)
PERMANENT_SKIPS = frozenset({"empty", "undecodable", "too_large"})


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
class Models:
    """What the run needs from the model side: a captioner, its id, and an encoder per encoder folder."""

    captioner: Captioner
    captioner_id: str
    encoder: Callable[[Path], SentenceEncoder]


AfterBatch = Callable[[int], None]


def active_bundle(db: Database, share: Path) -> SearchBundle | None:
    """The active bundle when its rows are complete in this database; None means a first run."""
    try:
        bundle = load_bundle(share)
    except BundleError as exc:
        log.info("no usable active bundle (%s): this run fits a new one", exc)
        return None
    if not db.run("checking the active version", lambda conn: store.has_clusters(conn, bundle.version)):
        log.warning("bundle %s has no rows in this database: this run fits a new one", bundle.version)
        return None
    return bundle


def run_index(
    open_source: Callable[[], ImageStore],
    db: Database,
    share: Path,
    encoder_dir: Path,
    models: Models,
    options: IndexOptions,
    after_batch: AfterBatch | None = None,
) -> RunSummary:
    """Bring the index up to date with the source; returns what was done."""
    summary = RunSummary("index")
    skip_log = SkipLog(options.skip_log, summary)
    source = open_source()
    bundle = active_bundle(db, share)
    if bundle is not None:
        encoder_dir = bundle.encoder_dir  # new rows must live in the active bundle's space
    run_id = uuid.uuid4().hex
    try:
        with tempfile.TemporaryDirectory(prefix="index-spool-") as scratch:
            plan = plan_run(
                source,
                db,
                run_id,
                Path(scratch) / "pending.jsonl",
                summary,
                skip_log,
                show_progress=options.show_progress,
            )
            remove_unlisted(
                db, source.location, run_id, summary, allow_empty_source=options.allow_empty_source
            )
            log.info(
                "%d images listed, %d already indexed, %d to caption",
                summary.seen,
                summary.already_indexed,
                plan.pending,
            )
            if plan.pending:
                _caption_pending(
                    plan.spool,
                    plan.pending,
                    open_source,
                    source.location,
                    db,
                    bundle,
                    encoder_dir,
                    models,
                    options,
                    summary,
                    skip_log,
                    after_batch,
                )
        db.run("clearing the listing", catalog.clear_listings)
        if bundle is None:
            if db.run("counting the catalog", lambda conn: catalog.count_catalog(conn)):
                refit(db, share, encoder_dir, options.fit, summary)
        else:
            db.run("recounting clusters", lambda conn: store.refresh_cluster_sizes(conn, bundle.version))
            summary.bundle_version = bundle.version
    finally:
        skip_log.close()
        summary.db_retries = db.retries
    return summary


def _caption_pending(
    spool: Path,
    pending: int,
    open_source: Callable[[], ImageStore],
    location: str,
    db: Database,
    bundle: SearchBundle | None,
    encoder_dir: Path,
    models: Models,
    options: IndexOptions,
    summary: RunSummary,
    skip_log: SkipLog,
    after_batch: AfterBatch | None,
) -> None:
    captioner = models.captioner
    spec_mean, spec_std = _normalisation(captioner)
    prep = Preprocess(captioner.image_size, spec_mean, spec_std)
    encoder = models.encoder(encoder_dir)
    encoder_name = encoder_id(encoder_dir)
    loader = make_loader(spool, open_source, prep, options.batch_size, options.workers)
    bar = progress(pending, "caption", enabled=options.show_progress)
    batches = iter(loader)
    number = 0
    while True:
        with summary.timed("wait for decode"):
            decoded: DecodedBatch | None = next(batches, None)
        if decoded is None:
            break
        summary.seconds["read (workers)"] += decoded.read_seconds
        summary.seconds["decode (workers)"] += decoded.decode_seconds
        with summary.timed("caption"):
            captions = caption(
                captioner,
                decoded.pixels,
                options.beam_size,
                options.max_length,
                per_image=options.captions_per_image,
            )
        with summary.timed("encode"):
            embeddings = encode_images(encoder, captions)
        alternatives = [join_captions(others) for others in captions.alternatives]
        items = decoded.items
        rows = CatalogBatch(
            location,
            [i.image_id for i in items],
            [i.name for i in items],
            [i.etag for i in items],
            captions.texts,
            alternatives,
            captions.scores,
            models.captioner_id,
            encoder_name,
            embeddings,
        )
        index_rows = None
        if bundle is not None:
            with summary.timed("assign"):
                reduced, cluster_ids = assign(
                    embeddings, bundle.pca_mean, bundle.pca_components, bundle.centroids
                )
            index_rows = store.RowBatch(
                bundle.version,
                rows.image_ids,
                rows.names,
                rows.captions,
                reduced,
                cluster_ids,
                [models.captioner_id] * len(items),
                alternatives,
            )
        permanent = [s for s in decoded.skips if s.reason in PERMANENT_SKIPS]
        with summary.timed("store"):
            db.run(
                "storing a batch", partial(_store_batch, rows=rows, skips=permanent, index_rows=index_rows)
            )
        for skip in decoded.skips:
            skip_log.add(skip)
        summary.indexed += len(items)
        bar.update(len(items) + len(decoded.skips))
        number += 1
        if after_batch is not None:
            after_batch(number)
    bar.close()


def _store_batch(
    conn: Connection, rows: CatalogBatch, skips: list[Skip], index_rows: store.RowBatch | None
) -> None:
    catalog.write_catalog(conn, rows)
    catalog.record_skips(conn, rows.location, skips)
    if index_rows is not None:
        store.merge_rows(conn, index_rows)


def _normalisation(captioner: Captioner) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    from training.backbones import spec

    backbone = spec(captioner.config.backbone)
    return backbone.mean, backbone.std
