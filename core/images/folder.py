"""An image store over a local folder: the demo and tests use it, the local server serves its files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from core.images.base import ImageNotFound, ImageRef, ImageStoreUnavailable, check_name, is_image_name


class LocalFolderStore:
    """Images under `root`, named by their '/'-separated path relative to it, linked as `{url_prefix}/{name}`.

    Whatever serves `url_prefix` (the local server) must map it back through path_of().
    """

    def __init__(self, root: Path, url_prefix: str = "/images") -> None:
        if not root.is_dir():
            raise ValueError(f"images folder does not exist: {root}")
        self.root = root.resolve()
        self.url_prefix = url_prefix.rstrip("/")
        self.location = f"folder:{self.root}"

    def path_of(self, name: str) -> Path:
        """The file for `name`, which must stay inside the root (symlinks included); else ValueError."""
        path = self.root.joinpath(*check_name(name).split("/"))
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"image name escapes the images folder: {name!r}")
        return path

    def list_images(self, prefix: str = "") -> Iterator[ImageRef]:
        """Yields images depth-first, each directory's entries sorted by name; skips what escapes the root.

        A name that is not valid UTF-8 comes as the OS gives it, with surrogate escapes (PEP 383), so
        that read() finds the file; the indexer skips such files with the reason ``invalid_name``.
        """
        yield from self._walk(self.root, "", prefix)

    def read(self, name: str) -> bytes:
        path = self.path_of(name)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ImageNotFound(f"image not found: {name!r} in {self.location}") from None
        except OSError as exc:
            message = f"cannot read image {name!r} in {self.location}: {exc.strerror}"
            raise ImageStoreUnavailable(message) from exc

    def url(self, name: str) -> str:
        return f"{self.url_prefix}/{quote(check_name(name), safe='/')}"

    def _walk(self, directory: Path, rel: str, prefix: str) -> Iterator[ImageRef]:
        for entry in self._sorted_entries(directory):
            name = rel + entry.name
            if entry.is_dir(follow_symlinks=False):
                # Only descend where names under this directory can still start with the prefix.
                if name.startswith(prefix) or prefix.startswith(name + "/"):
                    yield from self._walk(Path(entry.path), name + "/", prefix)
            elif name.startswith(prefix) and is_image_name(name) and self._is_inside_file(entry):
                try:
                    stat = entry.stat()
                except FileNotFoundError:  # removed since the directory was read
                    continue
                yield ImageRef(
                    name=name,
                    size=stat.st_size,
                    etag=f"{stat.st_size:x}-{stat.st_mtime_ns:x}",
                    last_modified=datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=UTC),
                )

    def _sorted_entries(self, directory: Path) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as entries:
                return sorted(entries, key=lambda entry: entry.name)
        except FileNotFoundError:
            if directory == self.root:
                raise ImageStoreUnavailable(f"images folder does not exist: {self.root}") from None
            return []  # removed since its parent was read
        except OSError as exc:
            message = f"cannot list {directory} in {self.location}: {exc.strerror}"
            raise ImageStoreUnavailable(message) from exc

    def _is_inside_file(self, entry: os.DirEntry[str]) -> bool:
        if not entry.is_file():
            return False
        return not entry.is_symlink() or Path(entry.path).resolve().is_relative_to(self.root)
