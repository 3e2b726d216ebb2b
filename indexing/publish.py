"""Build a search index from captioned images: encode, fit, store, publish.

This is the tail of the indexing pipeline, from captions onward; it is handed its database
connection and model share so that tests and the demo can run it on their own data.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.bundle import new_version_name, write_bundle
from core.captions import join_captions
from core.database import Connection, apply_schema
from core.space import nearest_clusters, project
from core.text_encoder import CONFIG_FILE, OnnxSentenceEncoder
from core.vector_index import DEFAULT_VECTOR_INDEX, create_vector_index
from indexing.fit import FittedSpace, fit_space
from indexing.stages import encode_groups
from indexing.store import RowBatch, insert_new_rows, replace_clusters

log = logging.getLogger(__name__)
STORE_BATCH_ROWS = 5_000


@dataclass(frozen=True)
class CaptionedImage:
    image_id: str
    name: str
    caption: str
    captioner: str = ""
    alternatives: tuple[str, ...] = ()  # the captioner's other captions of the image, best first
    # Length-normalised log-probabilities of the caption and each alternative; empty: weigh them equally.
    scores: tuple[float, ...] = ()


def image_identity(location: str, name: str, etag: str) -> str:
    """A stable id for an image: the same source object always gets the same id."""
    return hashlib.sha256(f"{location}\0{name}\0{etag}".encode()).hexdigest()[:32]


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
) -> str:
    """Fit a new search space on the captions, store every row under a new bundle version, publish it.

    Rows are written before the bundle is activated, so search never sees a version without its rows.
    Returns the new version name. ``embeddings`` may be passed when the captions are already encoded.
    """
    if not images:
        raise ValueError("cannot build an index from zero images")
    if embeddings is None:
        encoder = OnnxSentenceEncoder(encoder_dir)
        embeddings = encode_groups(
            encoder,
            [[image.caption, *image.alternatives] for image in images],
            scores=[image.scores or (0.0,) * (1 + len(image.alternatives)) for image in images],
        )
    if embeddings.shape[0] != len(images):
        raise ValueError(f"{embeddings.shape[0]} embeddings for {len(images)} images")
    space = fit_space(embeddings, pca_dim=pca_dim, clusters=clusters)
    reduced = project(embeddings, space.pca_mean, space.pca_components)  # (N, d)
    assignment = nearest_clusters(reduced, space.centroids, 1)[:, 0]  # (N,)

    version = new_version_name()
    apply_schema(conn)
    for start in range(0, len(images), STORE_BATCH_ROWS):
        batch = images[start : start + STORE_BATCH_ROWS]
        insert_new_rows(
            conn,
            RowBatch(
                version,
                [img.image_id for img in batch],
                [img.name for img in batch],
                [img.caption for img in batch],
                reduced[start : start + len(batch)],
                assignment[start : start + len(batch)],
                [img.captioner for img in batch],
                [join_captions(img.alternatives) for img in batch],
            ),
        )
        conn.commit()
    replace_clusters(conn, version, space.centroids)
    if vector_index:
        dim, lists = space.pca_components.shape[0], space.centroids.shape[0]
        create_vector_index(conn, version, dim, vector_index, lists=lists)
    conn.commit()
    publish_space(share, encoder_dir, space, version, rows=len(images))
    return version


def publish_space(share: Path, encoder_dir: Path, space: FittedSpace, version: str, *, rows: int) -> None:
    """Write the bundle of a fitted space (its rows already stored under ``version``) and activate it."""
    encoder_info = json.loads((encoder_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    write_bundle(
        share,
        encoder_dir=encoder_dir,
        encoder_info=encoder_info,
        pca_mean=space.pca_mean,
        pca_components=space.pca_components,
        centroids=space.centroids,
        extra={"corpus": {"rows": rows, "explained_variance": round(space.explained_variance, 4)}},
        version=version,
    )
    log.info("published bundle %s with %d rows in %d clusters", version, rows, len(space.centroids))
