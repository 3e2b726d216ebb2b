from pathlib import Path

import pytest

from function_app.settings import Settings, SettingsError

AZURE = {"FUNCTIONS_WORKER_RUNTIME": "python"}


def test_local_defaults_use_the_checkout_and_an_embedded_database() -> None:
    settings = Settings.from_env({})
    assert settings.model_share.parts[-2:] == (".data", "share")
    assert settings.database.url is None and settings.database.entra is None
    assert settings.database.embedded_dir is not None
    assert settings.images.kind == "folder"
    search = settings.search
    assert (search.plan.nprobe, search.default_k, search.max_k, search.max_query_chars) == (
        8,
        10,
        100,
        512,
    )
    assert settings.serve_web is True
    assert settings.pool_size == 8


def test_azure_with_entra_postgres_and_blob_images() -> None:
    settings = Settings.from_env(
        {
            **AZURE,
            "MODEL_SHARE_PATH": "/mounts/models",
            "POSTGRES_HOST": "pg.example.net",
            "POSTGRES_DATABASE": "search",
            "POSTGRES_USER": "search-identity",
            "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
            "IMAGES_ACCOUNT_URL": "https://acct.blob.core.windows.net",
            "CORS_ALLOWED_ORIGINS": "https://web.example.net, https://other.example.net",
            "SEARCH_POOL_SIZE": "4",
        }
    )
    assert settings.model_share == Path("/mounts/models")
    assert settings.database.entra is not None
    assert (
        settings.database.entra.dsn()
        == "host=pg.example.net dbname=search user=search-identity sslmode=require"
    )
    assert settings.database.embedded_dir is None
    assert settings.images.kind == "blob"
    assert settings.cors_allowed_origins == ("https://web.example.net", "https://other.example.net")
    assert settings.serve_web is False
    assert settings.pool_size == 4


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (AZURE, r"MODEL_SHARE_PATH is not set"),
        ({**AZURE, "MODEL_SHARE_PATH": "/m"}, r"POSTGRES_HOST is not set \(or DATABASE_URL\)"),
        ({**AZURE, "MODEL_SHARE_PATH": "/m", "POSTGRES_HOST": "h"}, r"POSTGRES_DATABASE is not set"),
        (
            {**AZURE, "MODEL_SHARE_PATH": "/m", "DATABASE_URL": "postgresql://x"},
            r"IMAGES_ACCOUNT_URL is not set",
        ),
        ({"SEARCH_NPROBE": "eight"}, r"SEARCH_NPROBE must be an integer, got 'eight'"),
        ({"SEARCH_NPROBE": "0"}, r"SEARCH_NPROBE must be between 1 and 32768, got 0"),
        ({"SEARCH_DEFAULT_K": "500"}, r"SEARCH_DEFAULT_K must be between 1 and 100, got 500"),
        (
            {"SEARCH_MIN_SIMILARITY": "high"},
            r"SEARCH_MIN_SIMILARITY must be a cosine, 'auto' or 'off', got 'high'",
        ),
        ({"SEARCH_MIN_SIMILARITY": "2"}, r"SEARCH_MIN_SIMILARITY must be between -1 and 1, got 2"),
        ({"SEARCH_ANSWER_SIMILARITY": "1.5"}, r"SEARCH_ANSWER_SIMILARITY must be between -1 and 1, got 1.5"),
        ({"SEARCH_TEXT_WEIGHT": "1.5"}, r"SEARCH_TEXT_WEIGHT must be between 0 and 1, got 1.5"),
        ({"SEARCH_TEXT_WEIGHT": "nan"}, r"SEARCH_TEXT_WEIGHT must be between 0 and 1, got nan"),
        ({"SEARCH_EXACT_BELOW": "-5"}, r"SEARCH_EXACT_BELOW must be between 0 and 10000000, got -5"),
        ({"IMAGE_STORE": "ftp"}, r"IMAGE_STORE must be 'folder' or 'blob', got 'ftp'"),
        ({"SEARCH_POOL_SIZE": "0"}, r"SEARCH_POOL_SIZE must be between 1 and 1000, got 0"),
        ({"BUNDLE_CHECK_SECONDS": "soon"}, r"BUNDLE_CHECK_SECONDS must be a number, got 'soon'"),
    ],
)
def test_missing_or_malformed_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_ranking_settings() -> None:
    default = Settings.from_env({})
    ranking = default.search.ranking
    assert (
        ranking.text_weight,
        ranking.min_similarity,
        ranking.answer_similarity,
        default.search.plan.exact_below,
    ) == (
        0.2,
        "auto",  # the bundle's calibrated floor and gate
        "auto",
        10_000,
    )
    tuned = Settings.from_env(
        {
            "SEARCH_MIN_SIMILARITY": "OFF",
            "SEARCH_ANSWER_SIMILARITY": "off",
            "SEARCH_TEXT_WEIGHT": "0",
            "SEARCH_EXACT_BELOW": "0",
        }
    )
    ranking = tuned.search.ranking
    assert (
        ranking.text_weight,
        ranking.min_similarity,
        ranking.answer_similarity,
        tuned.search.plan.exact_below,
    ) == (
        0.0,
        None,
        None,
        0,
    )
    assert Settings.from_env({"SEARCH_ANSWER_SIMILARITY": "0.7"}).search.ranking.answer_similarity == 0.7
    assert (
        Settings.from_env({"SEARCH_ANSWER_SIMILARITY": " Auto "}).search.ranking.answer_similarity == "auto"
    )


def test_an_entra_login_with_spaces_and_quotes_survives_the_connection_string() -> None:
    from psycopg2.extensions import parse_dsn

    env = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "MODEL_SHARE_PATH": "/mounts/models",
        "POSTGRES_HOST": "pg.example.net",
        "POSTGRES_DATABASE": "search",
        "POSTGRES_USER": "Search DB Operators 'eu'",  # an Entra group's display name
        "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
        "IMAGES_ACCOUNT_URL": "https://acct.blob.core.windows.net",
    }
    entra = Settings.from_env(env).database.entra
    assert entra is not None
    assert parse_dsn(entra.dsn()) == {
        "host": "pg.example.net",
        "dbname": "search",
        "user": "Search DB Operators 'eu'",
        "sslmode": "require",
    }
