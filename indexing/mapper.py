"""The map stage: decoded images in, catalog rows out (caption, tag, encode, assign to the active space).

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
from core.tags import tags_json
from indexing.catalog import CatalogBatch
from indexing.ocr import TEXT_IN_PICTURE_WEIGHT
from indexing.read import DecodedBatch
from indexing.report import RunSummary
from indexing.stages import SentenceEncoder, assign, caption, encode_images, mix_tags
from indexing.store import RowBatch
from indexing.tagging.tagger import DEFAULT_TAG_WEIGHT, Tagger
from indexing.versions import encoder_id, visual_rows

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
    tagger: Tagger | None = None  # None: no tags (a backbone without an ImageNet head)
    tag_weight: float = DEFAULT_TAG_WEIGHT  # of the tags' embedding against the captions' (stages.mix_tags)

    def map(self, decoded: DecodedBatch, location: str, summary: RunSummary) -> Mapped:
        """Caption and tag the batch's (B, 3, S, S) pixels from one backbone pass, encode each image's
        captions mixed with its tags, assign them."""
        with summary.timed("caption"):
            # (B, P, E); an empty batch (every file skipped) has nothing to encode and yields no rows.
            features = self.captioner.encode(decoded.pixels) if len(decoded.items) else decoded.pixels
            captions = caption(
                self.captioner, features, self.beam_size, self.max_length, per_image=self.captions_per_image
            )
            # (B, E) the grid averaged, as the tagger's head reads it: search by picture's visual features
            pooled = features.float().mean(dim=1).cpu().numpy() if len(decoded.items) else None
        with summary.timed("tag"):
            found = self.tagger.tag_features(features) if self.tagger is not None else None
            tags = [[(t.text, t.confidence) for t in image] for image in found or [[]] * len(captions.texts)]
        with summary.timed("encode"):
            embeddings = encode_images(self.encoder, captions)  # (B, D)
            embeddings = mix_tags(embeddings, self.encoder, tags, self.tag_weight)
            if decoded.texts is not None:  # the words read in a picture, mixed in as tags are
                read = [[(text, 1.0)] if text else [] for text in decoded.texts]
                embeddings = mix_tags(embeddings, self.encoder, read, TEXT_IN_PICTURE_WEIGHT)
        alternatives = [join_captions(others) for others in captions.alternatives]
        stored_tags = [tags_json(image) for image in tags]
        items = decoded.items
        taken = [t.at for t in decoded.taken] or None
        taken_from: list[str] | None = [t.source for t in decoded.taken] or None
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
            stored_tags,
            taken,
            taken_from,
            decoded.texts,
            pooled,
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
            stored_tags,
            taken,
            taken_from,
            decoded.texts,
            visual_rows(pooled, self.bundle.visual_components),
        )
        return Mapped(rows, index_rows)


@dataclass(frozen=True)
class Models:
    """What a run needs from the model side: a captioner, its id, an encoder per encoder folder, and the
    tagger on the captioner's backbone (None: no tags)."""

    captioner: Captioner
    captioner_id: str
    encoder: Callable[[Path], SentenceEncoder]
    tagger: Tagger | None = None
    tag_weight: float = DEFAULT_TAG_WEIGHT

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
            self.tagger,
            self.tag_weight,
        )
