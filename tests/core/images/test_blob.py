"""The Blob Storage image store against real Azurite, with an account key."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from core.images import BlobImageStore, ImageNotFound, ImageStoreUnavailable
from tests.azurite import ACCOUNT
from tests.core.images.conftest import TTL, RequestLog, names, sas_expiry


@pytest.fixture
def service(azurite_connection_string: str, request_log: RequestLog) -> BlobServiceClient:
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


def test_blob_errors_name_the_blob_and_the_cause(azurite_connection_string: str) -> None:
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
