"""The indexer's settings: the captioning defaults, and malformed values named in the error."""

from __future__ import annotations

import pytest

from core.env import SettingsError
from core.vector_index import Strategy
from function_app.settings import Settings
from indexing.settings import IndexSettings

AZURE = {"FUNCTIONS_WORKER_RUNTIME": "python", "MODEL_SHARE_PATH": "/m"}


def test_captioning_defaults_are_beam_5_with_5_captions_per_image() -> None:
    settings = IndexSettings.from_env({})
    assert (settings.beam_size, settings.captions_per_image, settings.max_length) == (5, 5, 20)
    assert settings.precision == "fp32"  # as trained; bf16/fp16 are for GPUs (benchmarks/gpu.sh)
    assert IndexSettings.from_env({"INDEX_PRECISION": "bf16"}).precision == "bf16"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INDEX_CAPTIONS_PER_IMAGE": "0"}, r"INDEX_CAPTIONS_PER_IMAGE must be between 1 and 20, got 0"),
        ({"INDEX_CAPTIONS_PER_IMAGE": "five"}, r"INDEX_CAPTIONS_PER_IMAGE must be an integer, got 'five'"),
        ({"INDEX_BEAM_SIZE": "21"}, r"INDEX_BEAM_SIZE must be between 1 and 20, got 21"),
        ({"INDEX_PRECISION": "half"}, r"INDEX_PRECISION must be one of fp32, bf16, fp16, got 'half'"),
    ],
)
def test_malformed_captioning_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        IndexSettings.from_env(env)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {**AZURE, "DATABASE_URL": "postgresql://x", "IMAGES_ACCOUNT_URL": "https://a.example.net"},
        {
            **AZURE,
            "POSTGRES_HOST": "pg.example.net",
            "POSTGRES_DATABASE": "search",
            "POSTGRES_USER": "indexer",
            "IMAGES_CONNECTION_STRING": "UseDevelopmentStorage=true",
            "IMAGES_CONTAINER": "photos",
            "SAS_TTL_MINUTES": "30",
        },
    ],
)
def test_the_indexer_and_the_service_read_the_shared_parts_alike(env: dict[str, str]) -> None:
    indexer, service = IndexSettings.from_env(env), Settings.from_env(env)
    assert indexer.model_share == service.model_share
    assert indexer.database == service.database
    assert indexer.images == service.images
    assert indexer.strategy == service.search.plan.strategy


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FUNCTIONS_WORKER_RUNTIME": "python"}, r"MODEL_SHARE_PATH is not set"),
        ({**AZURE}, r"POSTGRES_HOST is not set \(or DATABASE_URL\)"),
        ({"POSTGRES_HOST": "h"}, r"POSTGRES_DATABASE is not set \(the database that holds the index\)"),
        (
            {"SEARCH_STRATEGY": "annoy"},
            r"SEARCH_STRATEGY must be one of hnsw, ivfflat, clusters, exact, got 'annoy'",
        ),
        ({"SAS_TTL_MINUTES": "0"}, r"SAS_TTL_MINUTES must be between 1 and 1440, got 0"),
    ],
)
def test_the_indexer_fails_on_shared_settings_with_the_service_s_messages(
    env: dict[str, str], message: str
) -> None:
    for settings in (IndexSettings, Settings):
        with pytest.raises(SettingsError, match=message):
            settings.from_env(env)


@pytest.mark.parametrize(
    ("strategy", "index"),
    [("hnsw", "hnsw"), ("ivfflat", "ivfflat"), ("clusters", None), ("exact", None), (None, "ivfflat")],
)
def test_search_strategy_names_the_vector_index_the_indexer_builds(
    strategy: str | None, index: str | None
) -> None:
    env = {} if strategy is None else {"SEARCH_STRATEGY": strategy}
    settings = IndexSettings.from_env(env)
    assert settings.strategy.vector_index == index
    assert settings.strategy is Strategy(strategy or "ivfflat")
