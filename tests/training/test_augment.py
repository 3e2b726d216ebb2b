from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from training.augment import VIEWS, background_mask, check_views, composite, seed_for
from training.data import ImageRecord
from training.features import cache_key
from training.model import ModelConfig


def _ring() -> Image.Image:
    """A black ring on a white canvas: white outside (canvas) and white inside (part of the drawing)."""
    img = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(img).ellipse((12, 12, 52, 52), outline="black", width=4)
    return img


def test_background_is_the_white_reachable_from_the_border_not_white_inside_a_shape() -> None:
    mask = background_mask(_ring())
    assert mask[0, 0] and mask[63, 63] and mask[2, 32]  # canvas
    assert not mask[32, 32]  # white, but enclosed by the ring
    assert not mask[12 + 1, 32]  # the ring itself


def test_composite_keeps_the_drawing_changes_the_canvas_and_is_repeatable() -> None:
    img = _ring()
    seed = seed_for("images/ring.png", "composite")
    out = composite(img, seed)
    assert out.size == img.size and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(composite(img, seed)))
    assert not np.array_equal(np.asarray(out), np.asarray(composite(img, seed + 1)))
    pixels = np.asarray(out).astype(int)
    assert (pixels.sum(axis=-1) < 3 * 64).any()  # the black ring survives
    assert (np.abs(pixels - 255).sum(axis=-1) > 60).mean() > 0.3  # most of the white canvas is gone


def test_seeds_differ_by_path_and_view() -> None:
    assert seed_for("a.png", "composite") == seed_for("a.png", "composite")
    assert (
        len({seed_for("a.png", "composite"), seed_for("b.png", "composite"), seed_for("a.png", "gray")}) == 3
    )


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_every_view_returns_an_rgb_image_of_the_same_size(view: str) -> None:
    out = VIEWS[view](_ring(), 7)
    assert out.size == (64, 64) and out.mode == "RGB"


def test_unknown_view_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown augment view 'blur'; choose from composite, gray, mirror"):
        check_views(("mirror", "blur"))


def test_view_changes_the_cache_key_and_plain_images_keep_theirs(tmp_path: Path) -> None:
    config = ModelConfig(vocab_size=10, backbone="tiny", pretrained=False, image_size=32, grid_size=4)
    records = [ImageRecord("a", "images/a.png", "train", (("a",),))]
    plain = cache_key(config, records)
    assert cache_key(config, records, None) == plain
    assert len({plain, cache_key(config, records, "mirror"), cache_key(config, records, "gray")}) == 3
