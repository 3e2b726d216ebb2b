"""What the image store tests share: a request log for the Blob SDK, files to list, SAS expiry."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.pipeline import PipelineRequest
from azure.core.rest import HttpRequest

from core.images import ImageStore

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


def sas_expiry(url: str) -> datetime:
    (expiry,) = parse_qs(urlsplit(url).query)["se"]
    return datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture
def request_log() -> RequestLog:
    return RequestLog()
