"""The settings parts both deployables share, each read from the environment by one factory.

The search Function (function_app/settings.py) and the indexer (indexing/settings.py) compose these
with their own options, so a variable means the same thing, has the same default and fails with the
same message in both. Locally every part defaults into the checkout's .data/ folder and an embedded
PostgreSQL; in Azure (detected by the Functions host's variables) the share and a database are
required.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.env import EnvReader, SettingsError
from core.vector_index import DEFAULT_STRATEGY, Strategy

__all__ = [
    "LOCAL_DATA",
    "PROJECT_ROOT",
    "DatabaseSettings",
    "ImageStoreSettings",
    "PostgresEntra",
    "SettingsError",
    "model_share_from_env",
    "running_in_azure",
    "strategy_from_env",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DATA = PROJECT_ROOT / ".data"
IMAGE_STORES = ("folder", "blob")


def running_in_azure(env: Mapping[str, str]) -> bool:
    """Whether this process runs under the Azure Functions host (or an App Service container)."""
    return bool(env.get("WEBSITE_INSTANCE_ID") or env.get("FUNCTIONS_WORKER_RUNTIME"))


def model_share_from_env(reader: EnvReader, *, in_azure: bool) -> Path:
    """MODEL_SHARE_PATH: the folder (an Azure Files mount in Azure) that holds the search bundles."""
    if in_azure:
        return Path(reader.required("MODEL_SHARE_PATH", "the mount path of the model share"))
    return Path(reader.text("MODEL_SHARE_PATH", str(LOCAL_DATA / "share")) or "")


@dataclass(frozen=True)
class PostgresEntra:
    """Azure Database for PostgreSQL reached with a managed identity's Entra token as the password."""

    host: str
    database: str
    user: str
    sslmode: str
    client_id: str | None

    def dsn(self) -> str:
        """The connection string, values quoted where needed: an Entra group's name may hold spaces."""
        from psycopg2.extensions import make_dsn

        return str(make_dsn(host=self.host, dbname=self.database, user=self.user, sslmode=self.sslmode))


@dataclass(frozen=True)
class DatabaseSettings:
    """Exactly one of: a DSN (DATABASE_URL), Entra sign-in (POSTGRES_*), or the embedded local server."""

    url: str | None
    entra: PostgresEntra | None
    embedded_dir: Path | None

    @classmethod
    def from_env(cls, reader: EnvReader, *, in_azure: bool) -> DatabaseSettings:
        url = reader.text("DATABASE_URL")
        entra = None
        if url is None and reader.text("POSTGRES_HOST"):
            entra = PostgresEntra(
                host=reader.required("POSTGRES_HOST", "the PostgreSQL server name"),
                database=reader.required("POSTGRES_DATABASE", "the database that holds the index"),
                user=reader.required("POSTGRES_USER", "the Entra principal the app signs in as"),
                sslmode=reader.text("POSTGRES_SSLMODE", "require") or "require",
                client_id=reader.text("AZURE_CLIENT_ID"),
            )
        if in_azure and url is None and entra is None:
            raise SettingsError(
                "POSTGRES_HOST is not set (or DATABASE_URL): the search index needs a database"
            )
        embedded = None
        if url is None and entra is None:
            from core.database import default_embedded_dir

            embedded = Path(reader.text("EMBEDDED_PG_DIR") or str(default_embedded_dir(PROJECT_ROOT)))
        return cls(url, entra, embedded)


@dataclass(frozen=True)
class ImageStoreSettings:
    """Where the pictures are: a local folder, or a Blob container (connection string or account URL)."""

    kind: str  # "folder" or "blob"
    images_dir: Path | None
    connection_string: str | None
    account_url: str | None
    container: str
    client_id: str | None  # the managed identity that reads the container (account URL only)
    sas_ttl_minutes: int

    @classmethod
    def from_env(cls, reader: EnvReader, *, in_azure: bool) -> ImageStoreSettings:
        kind = (reader.text("IMAGE_STORE", "blob" if in_azure else "folder") or "").lower()
        if kind not in IMAGE_STORES:
            raise SettingsError(f"IMAGE_STORE must be 'folder' or 'blob', got {kind!r}")
        images_dir = None
        if kind == "folder":
            images_dir = Path(reader.text("IMAGES_DIR", str(LOCAL_DATA / "demo" / "images")) or "")
        connection_string = reader.text("IMAGES_CONNECTION_STRING")
        account_url = reader.text("IMAGES_ACCOUNT_URL")
        if kind == "blob" and not (connection_string or account_url):
            raise SettingsError(
                "IMAGES_ACCOUNT_URL is not set (IMAGE_STORE=blob needs it, or IMAGES_CONNECTION_STRING)"
            )
        return cls(
            kind=kind,
            images_dir=images_dir,
            connection_string=connection_string,
            account_url=account_url,
            container=reader.text("IMAGES_CONTAINER", "images") or "images",
            client_id=reader.text("AZURE_CLIENT_ID"),
            sas_ttl_minutes=reader.integer("SAS_TTL_MINUTES", 15, 1, 24 * 60),
        )


def strategy_from_env(reader: EnvReader) -> Strategy:
    """SEARCH_STRATEGY: how the service ranks rows, and so which vector index the indexer builds."""
    raw = (reader.text("SEARCH_STRATEGY", DEFAULT_STRATEGY.value) or "").lower()
    try:
        return Strategy(raw)
    except ValueError:
        choices = ", ".join(s.value for s in Strategy)
        raise SettingsError(f"SEARCH_STRATEGY must be one of {choices}, got {raw!r}") from None
