"""Builds the configured image store from settings values (the settings module reads the environment)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from core.images.base import ImageStore

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

KINDS = ("folder", "blob")


def open_image_store(
    kind: str,
    *,
    images_dir: Path | None,
    connection_string: str | None,
    account_url: str | None,
    container: str | None,
    sas_ttl_minutes: int,
    url_prefix: str = "/images",
    credential: TokenCredential | None = None,
) -> ImageStore:
    """A LocalFolderStore (kind 'folder') or BlobImageStore (kind 'blob'); ValueError names a missing setting.

    With an account URL and no `credential`, DefaultAzureCredential is used (the managed identity in Azure).
    """
    if kind == "folder":
        if images_dir is None:
            raise ValueError("IMAGE_STORE=folder needs IMAGES_DIR")
        from core.images.folder import LocalFolderStore

        return LocalFolderStore(images_dir, url_prefix)
    if kind != "blob":
        raise ValueError(f"IMAGE_STORE must be one of {', '.join(KINDS)}; got {kind!r}")
    if not connection_string and not account_url:
        raise ValueError("IMAGE_STORE=blob needs IMAGES_CONNECTION_STRING or IMAGES_ACCOUNT_URL")
    if connection_string and account_url:
        raise ValueError("IMAGE_STORE=blob takes IMAGES_CONNECTION_STRING or IMAGES_ACCOUNT_URL, not both")
    if not container:
        raise ValueError("IMAGE_STORE=blob needs IMAGES_CONTAINER")
    if not 1 <= sas_ttl_minutes <= 24 * 60:
        raise ValueError(f"SAS_TTL_MINUTES must be between 1 and 1440; got {sas_ttl_minutes}")
    # Imported here so a folder-backed process never pays for the Azure SDK import.
    from core.images.blob import BlobImageStore

    sas_ttl = timedelta(minutes=sas_ttl_minutes)
    if connection_string:
        return BlobImageStore.from_connection_string(connection_string, container, sas_ttl)
    assert account_url is not None
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return BlobImageStore.from_account_url(account_url, container, credential, sas_ttl)
