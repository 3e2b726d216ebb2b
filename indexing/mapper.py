"""The map stage: decoded images in, catalog rows out (caption, encode, and assign to the active space).

The mapper holds the models and the space new rows join; it does no I/O, so a test can hand it any
decoded batch and look at the rows it makes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.bundle import SearchBundle
from core.captions import join_captions
from indexing.catalog import CatalogBatch
from indexing.read import DecodedBatch
from indexing.report import RunSummary
from indexing.stages import SentenceEncoder, assign, caption, encode_images
from indexing.store import RowBatch
from indexing.versions import encoder_id

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from training.caption import Captioner


@dataclass(frozen=True)
class Mapped:
    rows: CatalogBatch
    index_rows: RowBatch | None  # the rows in the active bundle's space; None on a first run


@dataclass(frozen=True)
class Mapper:
    captioner: Captioner
    captioner_id: str
    encoder: SentenceEncoder
    encoder_name: str  # the encoder's id, recorded with every catalog row
    bundle: SearchBundle | None = None  # new rows join this bundle's space; None: the catalog only
    beam_size: int = 5
    max_length: int = 20
    captions_per_image: int = 5  # the caption and up to 4 other beam hypotheses, embedded as their mean

    def map(self, decoded: DecodedBatch, location: str, summary: RunSummary) -> Mapped:
        """Caption the batch's (B, 3, S, S) pixels, encode each image's captions, assign them."""
        with summary.timed("caption"):
            captions = caption(
                self.captioner,
                decoded.pixels,
                self.beam_size,
                self.max_length,
                per_image=self.captions_per_image,
            )
        with summary.timed("encode"):
            embeddings = encode_images(self.encoder, captions)  # (B, D)
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
            self.captioner_id,
            self.encoder_name,
            embeddings,
        )
        if self.bundle is None:
            return Mapped(rows, None)
        with summary.timed("assign"):
            reduced, cluster_ids = assign(
                embeddings, self.bundle.pca_mean, self.bundle.pca_components, self.bundle.centroids
            )  # (B, d), (B,)
        index_rows = RowBatch(
            self.bundle.version,
            rows.image_ids,
            rows.names,
            rows.captions,
            reduced,
            cluster_ids,
            [self.captioner_id] * len(items),
            alternatives,
        )
        return Mapped(rows, index_rows)


@dataclass(frozen=True)
class Models:
    """What a run needs from the model side: a captioner, its id, and an encoder per encoder folder."""

    captioner: Captioner
    captioner_id: str
    encoder: Callable[[Path], SentenceEncoder]

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """(3, S, S): what the captioner expects of a decoded image (the read stage runs it)."""
        return self.captioner.preprocess(image)

    def mapper(
        self,
        encoder_dir: Path,
        bundle: SearchBundle | None,
        *,
        beam_size: int,
        max_length: int,
        captions_per_image: int,
    ) -> Mapper:
        """The mapper into ``bundle``'s space (None: the catalog only), encoding with ``encoder_dir``."""
        return Mapper(
            self.captioner,
            self.captioner_id,
            self.encoder(encoder_dir),
            encoder_id(encoder_dir),
            bundle,
            beam_size,
            max_length,
            captions_per_image,
        )
