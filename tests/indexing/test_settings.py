"""The indexer's settings: the captioning defaults, and malformed values named in the error."""

from __future__ import annotations

import pytest

from indexing.env import SettingsError
from indexing.settings import IndexSettings


def test_captioning_defaults_are_beam_5_with_5_captions_per_image() -> None:
    settings = IndexSettings.from_env({})
    assert (settings.beam_size, settings.captions_per_image, settings.max_length) == (5, 5, 20)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INDEX_CAPTIONS_PER_IMAGE": "0"}, r"INDEX_CAPTIONS_PER_IMAGE must be between 1 and 20, got 0"),
        ({"INDEX_CAPTIONS_PER_IMAGE": "five"}, r"INDEX_CAPTIONS_PER_IMAGE must be an integer, got 'five'"),
        ({"INDEX_BEAM_SIZE": "21"}, r"INDEX_BEAM_SIZE must be between 1 and 20, got 21"),
    ],
)
def test_malformed_captioning_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        IndexSettings.from_env(env)
