"""Settings of the search API, read from the environment in this one place.

Locally every setting has a default that points into the checkout's .data/ folder and an embedded
PostgreSQL. In Azure (detected by the Functions host's variables) the share path and a database are
required, and a missing or malformed setting fails at start-up naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from function_app.index_reader import STRATEGIES
from function_app.ranking import (
    DEFAULT_ANSWER_SIMILARITY,
    DEFAULT_MIN_SIMILARITY,
    DEFAULT_TEXT_WEIGHT,
    RankingOptions,
)
from indexing.database import entra_dsn
from indexing.env import EnvReader, SettingsError

__all__ = ["Settings", "SettingsError"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DATA = PROJECT_ROOT / ".data"

DEFAULT_STRATEGY = "ivfflat"  # docs/scale.md: the fastest to recall@10 >= 0.95 at 1M rows
DEFAULT_NPROBE = 8
DEFAULT_EF_SEARCH = 100
DEFAULT_K = 10
MAX_K = 100
MAX_QUERY_CHARS = 512
DEFAULT_EXACT_BELOW = 10_000  # exact search costs ~6 ms at 10k rows (docs/scale.md) and loses nothing


@dataclass(frozen=True)
class PostgresEntra:
    """Azure Database for PostgreSQL reached with a managed identity's Entra token as the password."""

    host: str
    database: str
    user: str
    sslmode: str
    client_id: str | None

    def dsn(self) -> str:
        return entra_dsn(self.host, self.database, self.user, self.sslmode)


@dataclass(frozen=True)
class Settings:
    model_share: Path
    database_url: str | None
    postgres_entra: PostgresEntra | None
    embedded_pg_dir: Path | None
    image_store: str
    images_dir: Path | None
    images_connection_string: str | None
    images_account_url: str | None
    images_container: str
    azure_client_id: str | None
    sas_ttl_minutes: int
    strategy: str
    nprobe: int
    ef_search: int
    default_k: int
    max_k: int
    max_query_chars: int
    exact_below: int
    ranking: RankingOptions
    bundle_check_seconds: float
    cors_allowed_origins: tuple[str, ...]
    serve_web: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        in_azure = bool(env.get("WEBSITE_INSTANCE_ID") or env.get("FUNCTIONS_WORKER_RUNTIME"))

        reader = EnvReader(env)
        text, required, integer, number = reader.text, reader.required, reader.integer, reader.number

        if in_azure:
            model_share = Path(required("MODEL_SHARE_PATH", "the mount path of the model share"))
        else:
            model_share = Path(text("MODEL_SHARE_PATH", str(LOCAL_DATA / "share")) or "")

        database_url = text("DATABASE_URL")
        postgres_entra = None
        if database_url is None and text("POSTGRES_HOST"):
            postgres_entra = PostgresEntra(
                host=required("POSTGRES_HOST", "the PostgreSQL server name"),
                database=required("POSTGRES_DATABASE", "the database that holds the index"),
                user=required("POSTGRES_USER", "the Entra principal the app signs in as"),
                sslmode=text("POSTGRES_SSLMODE", "require") or "require",
                client_id=text("AZURE_CLIENT_ID"),
            )
        if in_azure and database_url is None and postgres_entra is None:
            raise SettingsError(
                "POSTGRES_HOST is not set (or DATABASE_URL): the search index needs a database"
            )
        embedded = None
        if database_url is None and postgres_entra is None:
            from indexing.database import default_embedded_dir

            embedded = Path(text("EMBEDDED_PG_DIR") or str(default_embedded_dir(PROJECT_ROOT)))

        image_store = (text("IMAGE_STORE", "blob" if in_azure else "folder") or "").lower()
        if image_store not in ("folder", "blob"):
            raise SettingsError(f"IMAGE_STORE must be 'folder' or 'blob', got {image_store!r}")
        images_dir = None
        if image_store == "folder":
            images_dir = Path(text("IMAGES_DIR", str(LOCAL_DATA / "demo" / "images")) or "")
        connection_string = text("IMAGES_CONNECTION_STRING")
        account_url = text("IMAGES_ACCOUNT_URL")
        if image_store == "blob" and not (connection_string or account_url):
            raise SettingsError(
                "IMAGES_ACCOUNT_URL is not set (IMAGE_STORE=blob needs it, or IMAGES_CONNECTION_STRING)"
            )

        strategy = (text("SEARCH_STRATEGY", DEFAULT_STRATEGY) or "").lower()
        if strategy not in STRATEGIES:
            raise SettingsError(f"SEARCH_STRATEGY must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        max_k = integer("SEARCH_MAX_K", MAX_K, 1, 1000)

        def similarity(name: str, default: float) -> float | None:  # "off": no threshold
            return None if (text(name) or "").lower() == "off" else number(name, default, -1.0, 1.0)

        answer_similarity = similarity("SEARCH_ANSWER_SIMILARITY", DEFAULT_ANSWER_SIMILARITY)
        min_similarity = similarity("SEARCH_MIN_SIMILARITY", DEFAULT_MIN_SIMILARITY)
        text_weight = number("SEARCH_TEXT_WEIGHT", DEFAULT_TEXT_WEIGHT, 0.0, 1.0)
        origins = tuple(o.strip() for o in (text("CORS_ALLOWED_ORIGINS", "") or "").split(",") if o.strip())
        return cls(
            model_share=model_share,
            database_url=database_url,
            postgres_entra=postgres_entra,
            embedded_pg_dir=embedded,
            image_store=image_store,
            images_dir=images_dir,
            images_connection_string=connection_string,
            images_account_url=account_url,
            images_container=text("IMAGES_CONTAINER", "images") or "images",
            azure_client_id=text("AZURE_CLIENT_ID"),
            sas_ttl_minutes=integer("SAS_TTL_MINUTES", 15, 1, 24 * 60),
            strategy=strategy,
            nprobe=integer("SEARCH_NPROBE", DEFAULT_NPROBE, 1, 100_000),
            ef_search=integer("SEARCH_EF_SEARCH", DEFAULT_EF_SEARCH, 1, 1000),
            default_k=integer("SEARCH_DEFAULT_K", DEFAULT_K, 1, max_k),
            max_k=max_k,
            max_query_chars=integer("SEARCH_MAX_QUERY_CHARS", MAX_QUERY_CHARS, 1, 100_000),
            exact_below=integer("SEARCH_EXACT_BELOW", DEFAULT_EXACT_BELOW, 0, 10_000_000),
            ranking=RankingOptions(text_weight, min_similarity, answer_similarity=answer_similarity),
            bundle_check_seconds=number("BUNDLE_CHECK_SECONDS", 10.0),
            cors_allowed_origins=origins,
            serve_web=not in_azure,
        )
