"""What every image store shares: the listed-image record, the error types, the protocol, name rules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})


@dataclass(frozen=True)
class ImageRef:
    """One listed image."""

    name: str  # blob name, or path relative to the folder root; '/'-separated
    size: int  # bytes
    etag: str  # the blob's ETag, or for a folder a fingerprint of (size, mtime_ns)
    last_modified: datetime  # UTC, timezone-aware


class ImageStoreError(Exception):
    """Base class of the errors an image store raises."""


class ImageNotFound(ImageStoreError):
    """The named image does not exist in the store."""


class ImageStoreUnavailable(ImageStoreError):
    """The store cannot be used: permission denied, service or emulator down, container missing."""


class ImageStore(Protocol):
    """Where the images live: the indexing pipeline lists and reads them, the search service links them."""

    location: str  # e.g. "folder:/data/images" or "blob:<account>/<container>", for logs and image identity

    def list_images(self, prefix: str = "") -> Iterator[ImageRef]:
        """Yields the images whose names start with `prefix`, lazily, one page or directory at a time."""
        ...

    def read(self, name: str) -> bytes:
        """The image's bytes; raises ImageNotFound or ImageStoreUnavailable."""
        ...

    def url(self, name: str) -> str:
        """A URL a browser can fetch the image from; makes no network call once warmed up."""
        ...


def is_image_name(name: str) -> bool:
    """True when the name ends with an image extension (case-insensitive)."""
    dot = name.rfind(".")
    return dot > name.rfind("/") and name[dot:].lower() in IMAGE_EXTENSIONS


def check_name(name: str) -> str:
    """Returns `name` when it is a relative '/'-separated path without '.' or '..' parts; else ValueError."""
    if not name:
        raise ValueError("image name is empty")
    if name.startswith("/"):
        raise ValueError(f"image name must be relative: {name!r}")
    if "\\" in name or "\0" in name:
        raise ValueError(f"image name must not contain a backslash or NUL: {name!r}")
    parts = name.split("/")
    if ".." in parts:
        raise ValueError(f"image name must not contain '..': {name!r}")
    if "." in parts or "" in parts:
        raise ValueError(f"image name must not contain empty or '.' parts: {name!r}")
    return name
