"""The local folder image store."""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

import pytest

from core.images import ImageNotFound, ImageStoreUnavailable, LocalFolderStore
from tests.core.images.conftest import names, write


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for rel in ["b.PNG", "a.jpg", "notes.txt", "sub/c.JpEg", "sub/deeper/d.webp", "sub/e.gif", "z/f.jpg.bak"]:
        write(root / rel, rel.encode())
    return root


def test_folder_lists_nested_images_only_in_a_stable_order(folder: Path) -> None:
    store = LocalFolderStore(folder)
    refs = list(store.list_images())
    assert [ref.name for ref in refs] == ["a.jpg", "b.PNG", "sub/c.JpEg", "sub/deeper/d.webp", "sub/e.gif"]
    assert [ref.size for ref in refs] == [len(ref.name) for ref in refs]
    assert all(ref.last_modified.tzinfo is UTC for ref in refs)
    assert names(store) == [ref.name for ref in refs]
    assert store.location == f"folder:{folder.resolve()}"


def test_folder_prefix_matches_names_like_blob_prefixes(folder: Path) -> None:
    store = LocalFolderStore(folder)
    assert names(store, "sub/") == ["sub/c.JpEg", "sub/deeper/d.webp", "sub/e.gif"]
    assert names(store, "sub/de") == ["sub/deeper/d.webp"]
    assert names(store, "s") == ["sub/c.JpEg", "sub/deeper/d.webp", "sub/e.gif"]
    assert names(store, "nothing/") == []


def test_folder_listing_is_lazy(tmp_path: Path) -> None:
    write(tmp_path / "a" / "1.jpg")
    write(tmp_path / "b" / "2.jpg")
    listing = LocalFolderStore(tmp_path).list_images()
    assert next(listing).name == "a/1.jpg"
    write(tmp_path / "b" / "3.jpg")  # b/ has not been read yet, so the new file shows up
    assert [ref.name for ref in listing] == ["b/2.jpg", "b/3.jpg"]


def test_folder_etag_is_stable_and_changes_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jpg", b"first")
    store = LocalFolderStore(tmp_path)
    (before,) = store.list_images()
    (again,) = store.list_images()
    assert again.etag == before.etag
    path.write_bytes(b"second!")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    (after,) = store.list_images()
    assert after.etag != before.etag
    assert after.size == 7


def test_folder_read_round_trip_and_missing(folder: Path) -> None:
    store = LocalFolderStore(folder)
    assert store.read("sub/deeper/d.webp") == b"sub/deeper/d.webp"
    with pytest.raises(ImageNotFound, match=r"^image not found: 'sub/none\.jpg' in folder:"):
        store.read("sub/none.jpg")
    with pytest.raises(ImageNotFound):
        store.read("sub")  # a directory is not an image


def test_folder_url_percent_encodes_each_part() -> None:
    store = LocalFolderStore(Path(__file__).parent, url_prefix="https://cdn.example/img/")
    assert (
        store.url("my photos/café été.jpg")
        == "https://cdn.example/img/my%20photos/caf%C3%A9%20%C3%A9t%C3%A9.jpg"
    )
    assert LocalFolderStore(Path(__file__).parent).url("a#b?.png") == "/images/a%23b%3F.png"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "image name is empty"),
        ("../secret.jpg", "image name must not contain '..': '../secret.jpg'"),
        ("a/../../secret.jpg", "image name must not contain '..': 'a/../../secret.jpg'"),
        ("/etc/passwd", "image name must be relative: '/etc/passwd'"),
        ("a//b.jpg", "image name must not contain empty or '.' parts: 'a//b.jpg'"),
        ("a\\b.jpg", "image name must not contain a backslash or NUL: 'a\\\\b.jpg'"),
    ],
)
def test_folder_rejects_names_outside_the_root(folder: Path, name: str, message: str) -> None:
    store = LocalFolderStore(folder)
    for call in (store.path_of, store.read, store.url):
        with pytest.raises(ValueError) as error:
            call(name)
        assert str(error.value) == message


def test_folder_symlinks_cannot_escape_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "images", tmp_path / "outside"
    write(outside / "secret.jpg", b"secret")
    write(root / "inside.jpg", b"inside")
    (root / "linked-dir").symlink_to(outside, target_is_directory=True)
    (root / "linked.jpg").symlink_to(outside / "secret.jpg")
    (root / "alias.jpg").symlink_to(root / "inside.jpg")
    store = LocalFolderStore(root)
    with pytest.raises(ValueError, match=r"^image name escapes the images folder: 'linked-dir/secret\.jpg'$"):
        store.read("linked-dir/secret.jpg")
    with pytest.raises(ValueError, match=r"^image name escapes the images folder: 'linked\.jpg'$"):
        store.path_of("linked.jpg")
    assert names(store) == ["alias.jpg", "inside.jpg"]
    assert store.read("alias.jpg") == b"inside"


def test_folder_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^images folder does not exist: .*nowhere$"):
        LocalFolderStore(tmp_path / "nowhere")
    store = LocalFolderStore(write(tmp_path / "gone" / "a.jpg").parent)
    (tmp_path / "gone" / "a.jpg").unlink()
    (tmp_path / "gone").rmdir()
    with pytest.raises(ImageStoreUnavailable, match=r"^images folder does not exist: .*gone$"):
        list(store.list_images())


def test_folder_lists_and_reads_a_file_whose_name_is_not_utf8(tmp_path: Path) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")  # Latin-1, as an old archive may hold
    with open(raw, "wb") as handle:
        handle.write(b"bytes")
    store = LocalFolderStore(tmp_path)
    (ref,) = store.list_images()
    assert ref.name == "caf\udce9.jpg" and os.fsencode(ref.name) == b"caf\xe9.jpg"  # PEP 383 escapes
    assert store.read(ref.name) == b"bytes"
