"""Row 3 of issue 18: the 16 KiB body limit holds while the body streams in, not after it was read.

Before, one 200 MB POST was read whole and added 353 MB to the server's memory before its 413.
"""

from __future__ import annotations

import asyncio
import select
import socket
from pathlib import Path

import pytest
from starlette.types import Message, Receive, Scope, Send

from function_app.api import MAX_BODY_BYTES, create_api
from function_app.middleware import BodyLimit
from function_app.settings import Settings
from tests.function_app.serving import served

CHUNK = 64 * 1024
HUGE = 200_000_000


def test_the_limit_stops_reading_a_streamed_body_at_the_first_chunk_past_it() -> None:
    consumed = 0
    sent: list[Message] = []
    app_called = False

    async def endless_body() -> Message:
        nonlocal consumed
        consumed += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": consumed < HUGE}

    async def record(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal app_called
        app_called = True

    scope = {"type": "http", "method": "POST", "path": "/api/search", "headers": []}
    asyncio.run(BodyLimit(app, max_bytes=MAX_BODY_BYTES, read_seconds=10)(scope, endless_body, record))
    assert consumed == CHUNK  # one chunk read, not 200 MB
    assert not app_called
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert sent[1]["body"] == (
        b'{"error": {"status": 413, "message": "request body is too large: '
        b'over 16384 bytes, the limit is 16384"}}'
    )


def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    chunks = [b'{"q": ', b'"a dog"', b"}"]
    seen: list[bytes] = []

    async def receive() -> Message:
        body = chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((await receive())["body"])

    async def send(message: Message) -> None:
        raise AssertionError(f"nothing should be sent, got {message}")

    scope = {"type": "http", "method": "POST", "path": "/api/search", "headers": []}
    asyncio.run(BodyLimit(app, max_bytes=MAX_BODY_BYTES, read_seconds=10)(scope, receive, send))
    assert seen == [b'{"q": "a dog"}']


def test_a_body_that_trickles_in_gets_a_408() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.sleep(10)
        raise AssertionError("not reached")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("not reached")

    async def record(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/search", "headers": []}
    asyncio.run(BodyLimit(app, max_bytes=MAX_BODY_BYTES, read_seconds=0.05)(scope, receive, record))
    assert sent[0]["status"] == 408
    assert b"request body did not arrive within 0.05 s" in sent[1]["body"]


@pytest.fixture
def server(tmp_path: Path) -> object:
    env = {
        "DATABASE_URL": "postgresql://x",
        "MODEL_SHARE_PATH": str(tmp_path),
        "IMAGE_STORE": "folder",
        "IMAGES_DIR": str(tmp_path),
    }

    def no_service(_: Settings) -> object:
        raise AssertionError("a refused body must not reach the service")

    return served(create_api(Settings.from_env(env), no_service))  # type: ignore[arg-type]


def _response(sock: socket.socket) -> bytes:
    """What the server sent until it closed the connection (a reset, as it had unread bytes, included)."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not part:
            return data
        data += part


def test_a_declared_200_mb_body_is_refused_before_any_of_it_is_read(server: object) -> None:
    with server as (host, port), socket.create_connection((host, port), timeout=10) as sock:  # type: ignore[attr-defined]
        sock.sendall(
            b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % HUGE
        )
        answer = _response(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(b'request body is too large: 200000000 bytes, the limit is 16384"}}')


def test_a_streamed_200_mb_body_is_cut_off_early(server: object) -> None:
    """Chunked, so no length is declared: the server answers once 16 KiB have arrived and stops reading.

    What this side manages to send before that is the kernel's socket buffers, a few MB at most."""
    sent = 0
    with server as (host, port), socket.create_connection((host, port), timeout=10) as sock:  # type: ignore[attr-defined]
        sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
        while sent < HUGE:
            readable, _, _ = select.select([sock], [sock], [], 10)
            if readable:
                break
            try:
                sock.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        answer = _response(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"request body is too large: over 16384 bytes" in answer
    assert sent < 32_000_000, f"{sent} bytes went out before the 413"
