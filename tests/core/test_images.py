"""The image stores: a local folder, and Blob Storage against real Azurite (plain and OAuth over HTTPS)."""

from __future__ import annotations

import os
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.core.pipeline import PipelineRequest
from azure.core.rest import HttpRequest
from azure.storage.blob import BlobServiceClient, ContainerClient

from core.images import (
    BlobImageStore,
    ImageNotFound,
    ImageStore,
    ImageStoreUnavailable,
    LocalFolderStore,
    open_image_store,
)
from core.images.sas import MAX_KEY_LIFETIME, REFRESH_MARGIN, key_lifetime, needs_new_key
from tests.azurite import (  # noqa: F401  (fixtures, until tests/conftest.py registers tests.azurite)
    ACCOUNT,
    AzuriteOAuth,
    FakeEntraCredential,
    azurite_connection_string,
    azurite_oauth,
)

TTL = timedelta(minutes=15)


class RequestLog:
    """Records every HTTP request the SDK sends, retries included (the client's `raw_request_hook`)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: PipelineRequest[HttpRequest]) -> None:
        http = request.http_request
        with self._lock:
            self.requests.append(f"{http.method} {http.url}")

    def matching(self, fragment: str) -> list[str]:
        return [line for line in self.requests if fragment in line]


def write(path: Path, data: bytes = b"img") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(store: ImageStore, prefix: str = "") -> list[str]:
    return [ref.name for ref in store.list_images(prefix)]


# --- local folder ------------------------------------------------------------------------------------


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


# --- Blob Storage on Azurite (account key) -------------------------------------------------------------


@pytest.fixture
def request_log() -> RequestLog:
    return RequestLog()


@pytest.fixture
def service(azurite_connection_string: str, request_log: RequestLog) -> BlobServiceClient:  # noqa: F811
    return BlobServiceClient.from_connection_string(azurite_connection_string, raw_request_hook=request_log)


@pytest.fixture
def make_container(service: BlobServiceClient) -> Iterator[Callable[..., ContainerClient]]:
    created: list[ContainerClient] = []

    def make(public_access: str | None = None) -> ContainerClient:
        container = service.get_container_client(f"images-{uuid.uuid4().hex[:12]}")
        container.create_container(public_access=public_access)
        created.append(container)
        return container

    yield make
    for container in created:
        container.delete_container()


def sas_expiry(url: str) -> datetime:
    (expiry,) = parse_qs(urlsplit(url).query)["se"]
    return datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_blob_listing_pages_lazily_filters_and_takes_a_prefix(
    service: BlobServiceClient, make_container: Callable[..., ContainerClient], request_log: RequestLog
) -> None:
    container = make_container()
    images = [f"pics/img-{i:02d}.{'PNG' if i % 5 == 0 else 'jpg'}" for i in range(25)]
    for name in [*images, "pics/readme.txt", "pics/x.jpg.json", "data.bin", "other/o.webp"]:
        container.upload_blob(name, name.encode())
    store = BlobImageStore(service, container.container_name, page_size=4)
    request_log.requests.clear()

    listing = store.list_images()
    first = next(listing)
    assert first.name == "other/o.webp" and first.size == len(first.name)
    assert first.etag and first.last_modified.utcoffset() == timedelta(0)
    assert len(request_log.matching("comp=list")) == 1  # one page fetched so far
    assert [ref.name for ref in listing] == images
    assert len(request_log.matching("comp=list")) == 8  # 29 blobs, 4 per page

    assert names(store, "pics/") == images
    assert names(store, "pics/img-2") == images[20:]


def test_blob_read_round_trip_and_missing(
    service: BlobServiceClient, make_container: Callable[..., ContainerClient]
) -> None:
    container = make_container()
    container.upload_blob("a/photo.jpg", b"\x89PNG bytes")
    store = BlobImageStore(service, container.container_name)
    assert store.read("a/photo.jpg") == b"\x89PNG bytes"
    with pytest.raises(ImageNotFound) as error:
        store.read("a/nope.jpg")
    assert str(error.value) == f"image not found: 'a/nope.jpg' in blob:{ACCOUNT}/{container.container_name}"


def test_blob_private_url_is_a_working_short_lived_sas(
    service: BlobServiceClient, make_container: Callable[..., ContainerClient]
) -> None:
    container = make_container()
    name = "holiday 2024/café #1.jpg"
    container.upload_blob(name, b"jpeg bytes")
    store = BlobImageStore(service, container.container_name, sas_ttl=TTL)
    before = datetime.now(UTC).replace(microsecond=0)
    url = store.url(name)
    bare, _, query = url.partition("?")
    assert parse_qs(query)["sp"] == ["r"]
    assert before + TTL <= sas_expiry(url) <= datetime.now(UTC) + TTL
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"jpeg bytes"
    assert httpx.get(bare).status_code in (403, 404)
    assert httpx.get(store.url("holiday 2024/missing.jpg")).status_code == 404


def test_blob_public_container_url_is_unsigned(
    service: BlobServiceClient, make_container: Callable[..., ContainerClient]
) -> None:
    container = make_container(public_access="blob")
    container.upload_blob("p q.png", b"png")
    url = BlobImageStore(service, container.container_name).url("p q.png")
    assert url == f"{container.url}/p%20q.png"
    assert httpx.get(url).content == b"png"


def test_blob_url_asks_the_access_level_once_then_makes_no_request(
    service: BlobServiceClient, make_container: Callable[..., ContainerClient], request_log: RequestLog
) -> None:
    container = make_container()
    store = BlobImageStore(service, container.container_name)
    request_log.requests.clear()
    urls = [store.url(f"img-{i}.jpg") for i in range(100)]
    assert len(set(urls)) == 100
    assert request_log.requests == [f"GET {container.url}?restype=container"]  # the properties, once

    forced = BlobImageStore(service, container.container_name, public=True)
    request_log.requests.clear()
    assert forced.url("x.jpg") == f"{container.url}/x.jpg"
    assert request_log.requests == []


def test_blob_errors_name_the_blob_and_the_cause(azurite_connection_string: str) -> None:  # noqa: F811
    wrong_key = azurite_connection_string.replace("AccountKey=Eby8", "AccountKey=AAAA")
    store = BlobImageStore.from_connection_string(wrong_key, "images")
    with pytest.raises(ImageStoreUnavailable) as error:
        store.read("a.jpg")
    assert (
        str(error.value)
        == f"cannot read image 'a.jpg' in blob:{ACCOUNT}/images: HTTP 403 AuthorizationFailure"
    )

    down = BlobServiceClient(f"http://127.0.0.1:9/{ACCOUNT}", credential=None, retry_total=0)
    store = BlobImageStore(down, "images", public=True)
    with pytest.raises(
        ImageStoreUnavailable, match=r"^cannot read image 'a\.jpg' in blob:\S+: cannot connect"
    ):
        store.read("a.jpg")
    with pytest.raises(ImageStoreUnavailable, match=r"^cannot list images in blob:\S+: cannot connect"):
        next(store.list_images())


def test_blob_listing_a_missing_container_is_unavailable(service: BlobServiceClient) -> None:
    store = BlobImageStore(service, "no-such-container")
    with pytest.raises(ImageStoreUnavailable) as error:
        list(store.list_images())
    assert (
        str(error.value)
        == f"cannot list images in blob:{ACCOUNT}/no-such-container: HTTP 404 ContainerNotFound"
    )


# --- Blob Storage on Azurite over HTTPS with Entra ID tokens (user-delegation SAS) ----------------------


@pytest.fixture
def oauth_service(azurite_oauth: AzuriteOAuth, request_log: RequestLog) -> BlobServiceClient:  # noqa: F811
    return BlobServiceClient(
        azurite_oauth.account_url,
        credential=FakeEntraCredential(),
        connection_verify=str(azurite_oauth.ca_file),
        raw_request_hook=request_log,
    )


@pytest.fixture
def oauth_container(oauth_service: BlobServiceClient) -> Iterator[ContainerClient]:
    container = oauth_service.get_container_client(f"images-{uuid.uuid4().hex[:12]}")
    container.create_container()
    container.upload_blob("dir/sunset é.jpg", b"sunset")
    yield container
    container.delete_container()


def test_user_delegation_sas_url_works_and_the_key_is_cached(
    oauth_service: BlobServiceClient,
    oauth_container: ContainerClient,
    azurite_oauth: AzuriteOAuth,  # noqa: F811
    request_log: RequestLog,
) -> None:
    store = BlobImageStore(oauth_service, oauth_container.container_name, sas_ttl=TTL)
    request_log.requests.clear()
    urls = [store.url("dir/sunset é.jpg") for _ in range(50)]
    assert len(request_log.matching("comp=userdelegationkey")) == 1
    assert len(request_log.requests) == 2  # the key and the container's access level

    query = parse_qs(urlsplit(urls[0]).query)
    assert query["sp"] == ["r"] and query["skoid"] == [FakeEntraCredential.object_id]
    assert sas_expiry(urls[0]) <= datetime.now(UTC) + TTL
    client = httpx.Client(verify=ssl.create_default_context(cafile=azurite_oauth.ca_file))
    response = client.get(urls[-1])
    assert response.status_code == 200 and response.content == b"sunset"
    assert client.get(urls[0].replace("&sig=", "&sig=AA")).status_code == 403
    assert client.get(urls[0].partition("?")[0]).status_code in (403, 404)


def test_user_delegation_key_is_refreshed_before_it_expires(
    oauth_service: BlobServiceClient, oauth_container: ContainerClient, request_log: RequestLog
) -> None:
    now = datetime.now(UTC)
    clock = [now]
    store = BlobImageStore(
        oauth_service, oauth_container.container_name, sas_ttl=TTL, public=False, clock=lambda: clock[0]
    )
    refresh_at = now + key_lifetime(TTL) - TTL - REFRESH_MARGIN
    request_log.requests.clear()
    store.url("a.jpg")
    clock[0] = refresh_at - timedelta(seconds=1)
    store.url("a.jpg")
    assert len(request_log.matching("comp=userdelegationkey")) == 1
    clock[0] = refresh_at + timedelta(seconds=1)
    store.url("a.jpg")
    store.url("a.jpg")
    assert len(request_log.matching("comp=userdelegationkey")) == 2


def test_user_delegation_key_is_fetched_once_by_concurrent_callers(
    oauth_service: BlobServiceClient, oauth_container: ContainerClient, request_log: RequestLog
) -> None:
    store = BlobImageStore(oauth_service, oauth_container.container_name, public=False)
    start = threading.Barrier(8)
    urls: list[str] = []

    def link() -> None:
        start.wait()
        urls.append(store.url("dir/sunset é.jpg"))

    threads = [threading.Thread(target=link) for _ in range(8)]
    request_log.requests.clear()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(urls) == 8
    assert len(request_log.matching("comp=userdelegationkey")) == 1


def test_key_refresh_decision() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert needs_new_key(None, now, TTL)
    assert not needs_new_key(now + TTL + REFRESH_MARGIN, now, TTL)
    assert needs_new_key(now + TTL + REFRESH_MARGIN - timedelta(seconds=1), now, TTL)
    assert key_lifetime(TTL) == timedelta(hours=6)
    assert key_lifetime(timedelta(days=1)) > timedelta(days=2)
    assert key_lifetime(timedelta(days=10)) == MAX_KEY_LIFETIME


# --- the factory -------------------------------------------------------------------------------------


def settings(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "images_dir": None,
        "connection_string": None,
        "account_url": None,
        "container": "images",
        "sas_ttl_minutes": 15,
    }
    return values | overrides


@pytest.mark.parametrize(
    ("kind", "overrides", "message"),
    [
        ("folder", {}, "IMAGE_STORE=folder needs IMAGES_DIR"),
        ("blob", {}, "IMAGE_STORE=blob needs IMAGES_CONNECTION_STRING or IMAGES_ACCOUNT_URL"),
        (
            "blob",
            {"connection_string": "x", "account_url": "https://a"},
            "IMAGE_STORE=blob takes IMAGES_CONNECTION_STRING or IMAGES_ACCOUNT_URL, not both",
        ),
        ("blob", {"account_url": "https://a", "container": None}, "IMAGE_STORE=blob needs IMAGES_CONTAINER"),
        (
            "blob",
            {"account_url": "https://a", "sas_ttl_minutes": 0},
            "SAS_TTL_MINUTES must be between 1 and 1440; got 0",
        ),
        ("s3", {}, "IMAGE_STORE must be one of folder, blob; got 's3'"),
    ],
)
def test_factory_names_the_missing_setting(kind: str, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        open_image_store(kind, **settings(**overrides))  # type: ignore[arg-type]
    assert str(error.value) == message


def test_factory_builds_each_store(
    tmp_path: Path,
    azurite_connection_string: str,  # noqa: F811
    azurite_oauth: AzuriteOAuth,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = open_image_store("folder", **settings(images_dir=tmp_path))  # type: ignore[arg-type]
    assert isinstance(folder, LocalFolderStore) and folder.location == f"folder:{tmp_path.resolve()}"

    keyed = open_image_store("blob", **settings(connection_string=azurite_connection_string))  # type: ignore[arg-type]
    assert isinstance(keyed, BlobImageStore) and keyed.location == f"blob:{ACCOUNT}/images"

    # The managed-identity path, end to end: requests trusts Azurite's certificate through the environment.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.ca_file))
    service = BlobServiceClient(azurite_oauth.account_url, credential=FakeEntraCredential())
    container = service.create_container(f"factory-{uuid.uuid4().hex[:12]}")
    container.upload_blob("f.gif", b"gif")
    entra = open_image_store(
        "blob",
        **settings(account_url=azurite_oauth.account_url, container=container.container_name),  # type: ignore[arg-type]
        credential=FakeEntraCredential(),
    )
    assert [ref.name for ref in entra.list_images()] == ["f.gif"]
    assert entra.read("f.gif") == b"gif"
    assert "skoid=" in entra.url("f.gif")
    container.delete_container()
