"""The one way to build a searchable version: fit, write every row, store the centroids, index, publish.

A version's rows come either from the catalog (``CatalogRows``: ``refit`` and a first indexing run) or
from captioned images held in memory (``ImageRows``: tests, evaluation, benchmarks); either way they
are written page by page through a ``Writer``, one transaction per page, and the bundle is activated
only after every row, the centroids and the vector index are stored, so search never sees a version
without its rows. A build killed half-way leaves an inactive version behind, which ``prune`` removes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from core.bundle import GATE_KEY, VECTOR_STORAGE_KEY, new_version_name, write_bundle
from core.captions import join_captions
from core.database import Connection, apply_schema
from core.gate import Gate
from core.tags import ImageTags, tags_json
from core.text_encoder import CONFIG_FILE
from core.vector_index import DEFAULT_STORAGE, DEFAULT_VECTOR_INDEX, VectorStorage
from core.visual import project_visual
from indexing.calibrate import calibrate_space
from indexing.catalog import CatalogPage
from indexing.fit import MAX_FIT_SAMPLE, MAX_VISUAL_SAMPLE, FittedSpace, fit_space, fit_visual
from indexing.report import RunSummary, progress
from indexing.session import ConnectionSession, IndexingError
from indexing.stages import assign, encode_groups, mix_tags
from indexing.store import RowBatch
from indexing.tagging.tagger import DEFAULT_TAG_WEIGHT
from indexing.write import PostgresWriter, Writer

log = logging.getLogger(__name__)
PAGE_ROWS = 20_000


@dataclass(frozen=True)
class FitOptions:
    pca_dim: int | None = None  # default from the corpus size (fit.default_pca_dim)
    clusters: int | None = None  # default from the corpus size (fit.default_cluster_count)
    seed: int = 0
    sample_limit: int = MAX_FIT_SAMPLE
    show_progress: bool = True
    vector_index: str | None = DEFAULT_VECTOR_INDEX  # pgvector ANN index built before activation; None: none
    vector_storage: VectorStorage = DEFAULT_STORAGE  # what that index is built on (INDEX_VECTOR_STORAGE)
    picture_dir: Path | None = None  # the bundle's picture encoder (picture_export.py); None: none


@dataclass(frozen=True)
class CaptionedImage:
    image_id: str
    name: str
    caption: str
    captioner: str = ""
    alternatives: tuple[str, ...] = ()  # the captioner's other captions of the image, best first
    # Length-normalised log-probabilities of the caption and each alternative; empty: weigh them equally.
    scores: tuple[float, ...] = ()
    tags: ImageTags = ()  # (word, confidence), names before generic words (indexing/tagging/)
    taken: datetime | None = None  # when the picture was taken (indexing/taken.py); None: unknown
    taken_from: str = ""  # "exif" or "modified"
    text_in_picture: str = ""  # the words OCR read in it (indexing/ocr.py)


class RowSource(Protocol):
    """The rows of a version to build, readable twice (once to fit, once to write)."""

    def count(self) -> int: ...

    def pages(self) -> Iterator[CatalogPage]: ...


class CatalogRows:
    """Every catalog image, in image_id order, a page per transaction of ``writer``."""

    def __init__(self, writer: Writer, page_rows: int = PAGE_ROWS) -> None:
        self._writer = writer
        self._page_rows = page_rows

    def count(self) -> int:
        return self._writer.count_catalog()

    def pages(self) -> Iterator[CatalogPage]:
        after = ""
        while (page := self._writer.catalog_page(after, self._page_rows)).image_ids:
            yield page
            after = page.image_ids[-1]


class ImageRows:
    """Captioned images held in memory with their (N, D) caption embeddings, in the order given."""

    def __init__(
        self, images: Sequence[CaptionedImage], embeddings: np.ndarray, page_rows: int = PAGE_ROWS
    ) -> None:
        if embeddings.shape[0] != len(images):
            raise ValueError(f"{embeddings.shape[0]} embeddings for {len(images)} images")
        self._images = images
        self._embeddings = embeddings
        self._page_rows = page_rows

    def count(self) -> int:
        return len(self._images)

    def pages(self) -> Iterator[CatalogPage]:
        for start in range(0, len(self._images), self._page_rows):
            page = self._images[start : start + self._page_rows]
            yield CatalogPage(
                [image.image_id for image in page],
                [image.name for image in page],
                [image.caption for image in page],
                [join_captions(image.alternatives) for image in page],
                [image.captioner for image in page],
                self._embeddings[start : start + len(page)],
                [tags_json(image.tags) for image in page],
                [image.taken for image in page],
                [image.taken_from for image in page],
                [image.text_in_picture for image in page],
            )


def encoder_id(encoder_dir: Path) -> str:
    """The id of an exported encoder (its encoder.json), as the catalog records it."""
    return str(json.loads((encoder_dir / CONFIG_FILE).read_text(encoding="utf-8"))["id"])


def fit_rows(rows: RowSource, options: FitOptions, summary: RunSummary) -> tuple[FittedSpace, np.ndarray]:
    """Fit PCA + K-means on the rows' embeddings (every n-th row beyond the sample limit), and the visual
    PCA on the same rows' pooled features where they have them; returns the space and the sample (S, D)
    it was fitted on."""
    total = rows.count()
    if total < 2:
        raise IndexingError(f"cannot fit a search space on {total} captioned image(s); index at least 2")
    stride = max(1, math.ceil(total / options.sample_limit))
    visual_stride = max(1, math.ceil(total / MAX_VISUAL_SAMPLE))
    chunks: list[np.ndarray] = []
    visual: list[np.ndarray] = []
    seen = 0
    bar = progress(total, "fit: read sample", enabled=options.show_progress)
    with summary.timed("fit"):
        for page in rows.pages():
            keep = (np.arange(seen, seen + len(page.image_ids)) % stride) == 0
            chunks.append(page.embeddings[keep])
            if page.visual is not None:
                kept = page.visual[(np.arange(seen, seen + len(page.image_ids)) % visual_stride) == 0]
                visual.append(kept[~np.isnan(kept).any(axis=1)])
            seen += len(page.image_ids)
            bar.update(len(page.image_ids))
        bar.close()
        sample = np.concatenate(chunks)  # (S, D)
        log.info("fitting PCA and K-means on %d of %d embeddings", len(sample), total)
        space = fit_space(
            sample, pca_dim=options.pca_dim, clusters=options.clusters, seed=options.seed, corpus_rows=total
        )
        if visual:  # rows captioned before the visual column have none; too few of them: no visual space
            space = replace(space, visual_components=fit_visual(np.concatenate(visual)))
    return space, sample


def write_version(
    rows: RowSource,
    writer: Writer,
    space: FittedSpace,
    version: str,
    summary: RunSummary,
    *,
    show_progress: bool = True,
    vector_index: str | None = DEFAULT_VECTOR_INDEX,
    vector_storage: VectorStorage = DEFAULT_STORAGE,
) -> int:
    """Store every row under ``version`` with its cluster, then the centroids and the ANN indexes: the
    text one (on ``vector_storage``), and the visual one where the space has a visual PCA (its rows have
    visual vectors; always ``vector``: 64-d, small)."""
    bar = progress(rows.count(), f"store {version}", enabled=show_progress)
    written = 0
    for page in rows.pages():
        with summary.timed("assign"):
            reduced, cluster_ids = assign(
                page.embeddings, space.pca_mean, space.pca_components, space.centroids
            )  # (N, d), (N,)
        batch = RowBatch(
            version,
            page.image_ids,
            page.names,
            page.captions,
            reduced,
            cluster_ids,
            page.captioners,
            page.alternatives,
            page.tags,
            page.taken,
            page.taken_from,
            page.text_in_picture or None,
            visual_rows(page.visual, space.visual_components),
        )
        with summary.timed("store"):
            written += writer.insert_version_rows(batch)
        bar.update(len(batch))
    bar.close()
    with summary.timed("store"):
        writer.store_centroids(version, space.centroids)
    if vector_index:
        dim, lists = space.pca_components.shape[0], space.centroids.shape[0]
        with summary.timed("vector index"):
            writer.build_vector_index(version, dim, vector_index, lists, vector_storage)
            if space.visual_components is not None:
                writer.build_visual_index(version, space.visual_components.shape[0])
    return written


def visual_rows(features: np.ndarray | None, components: np.ndarray | None) -> np.ndarray | None:
    """(N, v) rows for images.visual: the (N, E) pooled features in the visual space, NaN (NULL) rows
    where an image has none; None where no image has any or the space has no visual PCA."""
    if features is None or components is None:
        return None
    return project_visual(features, components)


def build_version(
    rows: RowSource,
    writer: Writer,
    share: Path,
    encoder_dir: Path,
    options: FitOptions,
    summary: RunSummary,
) -> str:
    """Fit a space on ``rows``, store them all under a new version, publish and activate its bundle.

    ``encoder_dir`` is the encoder the rows' embeddings were made with; the bundle ships it. Returns
    the new version, also recorded in ``summary``.
    """
    space, sample = fit_rows(rows, options, summary)
    with summary.timed("calibrate"):
        gate, probes = calibrate_space(encoder_dir, space, sample)  # the answer gate for this corpus
    del sample
    version = new_version_name()
    written = write_version(
        rows,
        writer,
        space,
        version,
        summary,
        show_progress=options.show_progress,
        vector_index=options.vector_index,
        vector_storage=options.vector_storage,
    )
    with summary.timed("publish"):
        publish_space(
            share,
            encoder_dir,
            space,
            version,
            rows=written,
            gate=gate,
            probes=probes,
            picture=options.picture_dir,
            vector_storage=options.vector_storage,
        )
    summary.bundle_version = version
    return version


def publish_space(
    share: Path,
    encoder_dir: Path,
    space: FittedSpace,
    version: str,
    *,
    rows: int,
    gate: Gate,
    probes: np.ndarray,
    picture: Path | None = None,
    vector_storage: VectorStorage = DEFAULT_STORAGE,
) -> None:
    """Write the bundle of a fitted space (its rows already stored under ``version``) with its
    calibrated answer gate and the gate's probes (P, d), the picture encoder folder ``picture``
    where given (search by picture), and what its text ANN index is built on, and activate it."""
    encoder_info = json.loads((encoder_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    write_bundle(
        share,
        encoder_dir=encoder_dir,
        encoder_info=encoder_info,
        pca_mean=space.pca_mean,
        pca_components=space.pca_components,
        centroids=space.centroids,
        extra={
            "corpus": {"rows": rows, "explained_variance": round(space.explained_variance, 4)},
            GATE_KEY: gate.to_manifest(),
            VECTOR_STORAGE_KEY: vector_storage,
        },
        probes=probes,
        picture_dir=picture,
        version=version,
        visual_components=space.visual_components,
    )
    log.info(
        "published bundle %s with %d rows in %d clusters, answer margin %.3f, floor %s",
        version,
        rows,
        len(space.centroids),
        gate.answer_margin,
        gate.min_similarity,
    )


def encode_images(
    images: Sequence[CaptionedImage], encoder_dir: Path, tag_weight: float = DEFAULT_TAG_WEIGHT
) -> np.ndarray:
    """(N, D) one embedding per image, as the indexer makes it: its captions' mean, weighted by their
    scores where given, mixed with its tags' (``stages.mix_tags``)."""
    from core.text_encoder import OnnxSentenceEncoder

    encoder = OnnxSentenceEncoder(encoder_dir)
    captions = encode_groups(
        encoder,
        [[image.caption, *image.alternatives] for image in images],
        scores=[image.scores or (0.0,) * (1 + len(image.alternatives)) for image in images],
    )
    return mix_tags(captions, encoder, [image.tags for image in images], tag_weight)


def build_index(
    images: Sequence[CaptionedImage],
    *,
    conn: Connection,
    share: Path,
    encoder_dir: Path,
    pca_dim: int | None = None,
    clusters: int | None = None,
    embeddings: np.ndarray | None = None,
    vector_index: str | None = DEFAULT_VECTOR_INDEX,
    tag_weight: float = DEFAULT_TAG_WEIGHT,
    vector_storage: VectorStorage = DEFAULT_STORAGE,
) -> str:
    """``build_version`` for callers holding captioned images and a plain connection; returns the version.

    The schema is applied first; every page commits on ``conn``. ``embeddings`` (N, D) may be passed
    when the captions are already encoded, else they are encoded with the encoder in ``encoder_dir`` and
    mixed with the images' tags at ``tag_weight``.
    """
    if not images:
        raise ValueError("cannot build an index from zero images")
    if embeddings is None:
        embeddings = encode_images(images, encoder_dir, tag_weight)
    rows = ImageRows(images, embeddings)
    apply_schema(conn)
    options = FitOptions(
        pca_dim=pca_dim,
        clusters=clusters,
        show_progress=False,
        vector_index=vector_index,
        vector_storage=vector_storage,
    )
    writer = PostgresWriter(ConnectionSession(conn))
    return build_version(rows, writer, share, encoder_dir, options, RunSummary("build"))
