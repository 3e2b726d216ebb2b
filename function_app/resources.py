"""Builds the heavy objects of the search API from settings, once: the pool, the bundle, the image store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from function_app.models import BundleProvider
from function_app.service import SearchService
from function_app.settings import Settings
from indexing.database import (
    Connection,
    ConnectionPool,
    EntraTokenPassword,
    azure_credential,
    make_connector,
    start_embedded_postgres,
)
from indexing.images import ImageStore, open_image_store


def database_connector(settings: Settings, *, register_vector: bool = True) -> Callable[[], Connection]:
    """How to open a connection: DATABASE_URL, Entra token auth, or the embedded local server."""
    if settings.database_url:
        return make_connector(settings.database_url, register_vector=register_vector)
    if settings.postgres_entra is not None:
        entra = settings.postgres_entra
        password = EntraTokenPassword(azure_credential(entra.client_id))
        return make_connector(entra.dsn(), password, register_vector=register_vector)
    assert settings.embedded_pg_dir is not None
    return _embedded_connector(settings.embedded_pg_dir)


def _embedded_connector(data_dir: Path) -> Callable[[], Connection]:
    """Starts the local server (which applies the schema) on the first connection, not at import."""
    lock = threading.Lock()
    connect: Callable[[], Connection] | None = None

    def connect_embedded() -> Connection:
        nonlocal connect
        with lock:
            if connect is None:
                connect = make_connector(start_embedded_postgres(data_dir))
        return connect()

    return connect_embedded


def image_store(settings: Settings) -> ImageStore:
    credential = None
    if settings.image_store == "blob" and settings.azure_client_id and not settings.images_connection_string:
        credential = azure_credential(settings.azure_client_id)
    return open_image_store(
        settings.image_store,
        images_dir=settings.images_dir,
        connection_string=settings.images_connection_string,
        account_url=settings.images_account_url,
        container=settings.images_container,
        sas_ttl_minutes=settings.sas_ttl_minutes,
        credential=credential,
    )


def build_service(settings: Settings) -> SearchService:
    return SearchService(
        BundleProvider(settings.model_share, check_seconds=settings.bundle_check_seconds),
        ConnectionPool(database_connector(settings)),
        image_store(settings),
        strategy=settings.strategy,
        nprobe=settings.nprobe,
        ef_search=settings.ef_search,
        max_k=settings.max_k,
        max_query_chars=settings.max_query_chars,
        exact_below=settings.exact_below,
        ranking=settings.ranking,
    )
