"""Builds connections and image stores from settings parts; the one place both deployables do it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from core.database import (
    Connection,
    EntraTokenPassword,
    azure_credential,
    make_connector,
    start_embedded_postgres,
)
from core.images import ImageStore, open_image_store
from core.settings import DatabaseSettings, ImageStoreSettings


def database_connector(
    settings: DatabaseSettings, *, register_vector: bool = True
) -> Callable[[], Connection]:
    """How to open a connection: DATABASE_URL, Entra token auth, or the embedded local server.

    Nothing connects (or starts) here: the embedded server starts, and applies the schema, on the
    first connection.
    """
    if settings.url:
        return make_connector(settings.url, register_vector=register_vector)
    if settings.entra is not None:
        password = EntraTokenPassword(azure_credential(settings.entra.client_id))
        return make_connector(settings.entra.dsn(), password, register_vector=register_vector)
    assert settings.embedded_dir is not None  # DatabaseSettings.from_env sets exactly one
    return _embedded_connector(settings.embedded_dir, register_vector)


def _embedded_connector(data_dir: Path, register_vector: bool) -> Callable[[], Connection]:
    lock = threading.Lock()
    connect: Callable[[], Connection] | None = None

    def connect_embedded() -> Connection:
        nonlocal connect
        with lock:
            if connect is None:
                connect = make_connector(start_embedded_postgres(data_dir), register_vector=register_vector)
        return connect()

    return connect_embedded


def open_images(settings: ImageStoreSettings) -> ImageStore:
    """The configured image store; a Blob account URL signs in as AZURE_CLIENT_ID's managed identity."""
    credential = None
    if settings.kind == "blob" and settings.account_url and not settings.connection_string:
        credential = azure_credential(settings.client_id)
    return open_image_store(
        settings.kind,
        images_dir=settings.images_dir,
        connection_string=settings.connection_string,
        account_url=settings.account_url,
        container=settings.container,
        sas_ttl_minutes=settings.sas_ttl_minutes,
        credential=credential,
    )
