"""Settings of the indexing commands, read from the environment in this one place.

Names mean what they mean for the search API (MODEL_SHARE_PATH, DATABASE_URL, POSTGRES_*, IMAGE_STORE,
IMAGES_*); the indexer adds CAPTIONER_CHECKPOINT, ENCODER_DIR and the INDEX_* tuning knobs. A missing
or malformed setting fails at start-up naming the variable. Command-line flags override the tuning knobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from indexing.env import EnvReader, SettingsError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DATA = PROJECT_ROOT / ".data"


@dataclass(frozen=True)
class IndexSettings:
    model_share: Path
    database_url: str | None
    postgres_host: str | None
    postgres_database: str | None
    postgres_user: str | None
    postgres_sslmode: str
    azure_client_id: str | None
    embedded_pg_dir: Path | None
    image_store: str
    images_dir: Path | None
    images_connection_string: str | None
    images_account_url: str | None
    images_container: str
    captioner_checkpoint: Path | None
    encoder_dir: Path
    device: str
    batch_size: int
    workers: int
    beam_size: int
    captions_per_image: int
    max_length: int
    threads: int  # torch and ONNX Runtime threads in the main process; 0 = their defaults
    log_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IndexSettings:
        reader = EnvReader(env)
        text, integer = reader.text, reader.integer

        database_url = text("DATABASE_URL")
        host = text("POSTGRES_HOST")
        if database_url is None and host is not None:
            for name in ("POSTGRES_DATABASE", "POSTGRES_USER"):
                if text(name) is None:
                    raise SettingsError(f"{name} is not set (POSTGRES_HOST needs it)")
        embedded = None
        if database_url is None and host is None:
            from indexing.database import default_embedded_dir

            embedded = Path(text("EMBEDDED_PG_DIR") or str(default_embedded_dir(PROJECT_ROOT)))
        image_store = (text("IMAGE_STORE", "folder") or "").lower()
        if image_store not in ("folder", "blob"):
            raise SettingsError(f"IMAGE_STORE must be 'folder' or 'blob', got {image_store!r}")
        checkpoint = text("CAPTIONER_CHECKPOINT")
        return cls(
            model_share=Path(text("MODEL_SHARE_PATH", str(LOCAL_DATA / "share")) or ""),
            database_url=database_url,
            postgres_host=host,
            postgres_database=text("POSTGRES_DATABASE"),
            postgres_user=text("POSTGRES_USER"),
            postgres_sslmode=text("POSTGRES_SSLMODE", "require") or "require",
            azure_client_id=text("AZURE_CLIENT_ID"),
            embedded_pg_dir=embedded,
            image_store=image_store,
            images_dir=Path(text("IMAGES_DIR", str(LOCAL_DATA / "demo" / "images")) or "")
            if image_store == "folder"
            else None,
            images_connection_string=text("IMAGES_CONNECTION_STRING"),
            images_account_url=text("IMAGES_ACCOUNT_URL"),
            images_container=text("IMAGES_CONTAINER", "images") or "images",
            captioner_checkpoint=Path(checkpoint) if checkpoint else None,
            encoder_dir=Path(text("ENCODER_DIR", str(LOCAL_DATA / "cache" / "minilm-onnx")) or ""),
            device=text("INDEX_DEVICE", "auto") or "auto",
            batch_size=integer("INDEX_BATCH_SIZE", 32, 1, 4096),
            workers=integer("INDEX_WORKERS", 2, 0, 64),
            beam_size=integer("INDEX_BEAM_SIZE", 5, 1, 20),
            captions_per_image=integer("INDEX_CAPTIONS_PER_IMAGE", 5, 1, 20),
            max_length=integer("INDEX_MAX_LENGTH", 20, 2, 100),
            threads=integer("INDEX_THREADS", 0, 0, 1024),
            log_dir=Path(text("INDEX_LOG_DIR", str(LOCAL_DATA / "index-logs")) or ""),
        )

    def database_dsn(self) -> tuple[str, bool]:
        """The DSN to connect to, and whether the password is an Entra token (Azure managed identity)."""
        if self.database_url is not None:
            return self.database_url, False
        if self.postgres_host is not None:
            from indexing.database import entra_dsn

            assert (
                self.postgres_database is not None and self.postgres_user is not None
            )  # checked in from_env
            dsn = entra_dsn(
                self.postgres_host, self.postgres_database, self.postgres_user, self.postgres_sslmode
            )
            return dsn, True
        from indexing.database import start_embedded_postgres

        assert self.embedded_pg_dir is not None
        return start_embedded_postgres(self.embedded_pg_dir), False
