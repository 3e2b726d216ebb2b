"""User-delegation SAS: Blob Storage on Azurite over HTTPS with Entra ID tokens."""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from core.images import BlobImageStore
from core.images.sas import MAX_KEY_LIFETIME, REFRESH_MARGIN, key_lifetime, needs_new_key
from tests.azurite import AzuriteOAuth, FakeEntraCredential
from tests.core.images.conftest import TTL, RequestLog, sas_expiry


@pytest.fixture
def oauth_service(azurite_oauth: AzuriteOAuth, request_log: RequestLog) -> BlobServiceClient:
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
    azurite_oauth: AzuriteOAuth,
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
