"""Tagging in the pipeline: one backbone pass captions and tags, tags are stored and mixed into embeddings."""

from __future__ import annotations

from pathlib import Path

from core.images import LocalFolderStore
from core.tags import parse_tags
from indexing import loaders
from indexing.memory import MemoryWriter
from indexing.runner import Models
from indexing.stages import encode_groups, mix_tags
from tests.indexing.conftest import quiet_options
from tests.indexing.pipeline_helpers import index
from tests.indexing.tagging.lite0 import write_lite0_checkpoint
from training.synthetic import make_shapes


def test_a_run_stores_each_images_tags_and_mixes_them_into_its_embedding(
    tmp_path: Path, encoder_dir: Path
) -> None:
    checkpoint = write_lite0_checkpoint(tmp_path / "lite0.pt")
    captioner = loaders.captioner(checkpoint, "cpu")
    tagger = loaders.tagger("efficientnet_lite0")
    models = Models(captioner, "lite0", loaders.onnx_encoder, tagger, tag_weight=0.5)
    images, share = tmp_path / "images", tmp_path / "share"
    make_shapes(images, 12)
    writer = MemoryWriter()
    options = quiet_options(captions_per_image=2)

    summary = index(lambda: LocalFolderStore(images), writer, share, encoder_dir, models, options)

    assert summary.indexed == 12 and summary.bundle_version is not None
    assert "tag" in summary.seconds
    tagged = [entry for entry in writer.catalog.values() if parse_tags(entry.tags)]
    assert tagged, "the classifier is confident on some shapes, so some images have tags"
    encoder = loaders.onnx_encoder(encoder_dir)
    for entry in writer.catalog.values():
        tags = parse_tags(entry.tags)
        assert all(0.05 <= confidence <= 1 for _, confidence in tags)
        captions = [entry.caption, *entry.alternatives.split("\n")] if entry.alternatives else [entry.caption]
        alone = encode_groups(encoder, [captions])  # the captions' embedding, equally weighted here
        expected = mix_tags(alone, encoder, [tags], 0.5)[0]
        # Beam scores weigh the captions in the run; with one alternative the direction barely moves.
        assert float(entry.embedding @ expected) > 0.97
    rows = writer.rows[summary.bundle_version]
    assert {i: rows[i].tags for i in rows} == {i: e.tags for i, e in writer.catalog.items()}
