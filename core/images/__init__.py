"""Where the images live: a local folder or an Azure Blob container, behind one small interface.

`BlobImageStore` is imported on first use, so processes reading a folder never load the Azure SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.images.base import (
    IMAGE_EXTENSIONS,
    ImageNotFound,
    ImageRef,
    ImageStore,
    ImageStoreError,
    ImageStoreUnavailable,
    is_image_name,
)
from core.images.factory import open_image_store
from core.images.folder import LocalFolderStore

if TYPE_CHECKING:
    from core.images.blob import BlobImageStore

__all__ = [
    "IMAGE_EXTENSIONS",
    "BlobImageStore",
    "ImageNotFound",
    "ImageRef",
    "ImageStore",
    "ImageStoreError",
    "ImageStoreUnavailable",
    "LocalFolderStore",
    "is_image_name",
    "open_image_store",
]


def __getattr__(name: str) -> Any:
    if name == "BlobImageStore":
        from core.images.blob import BlobImageStore

        return BlobImageStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
