"""ASGI middleware that every request of the API goes through, outermost first:

SecurityHeaders   nosniff, no referrer, and a Content-Security-Policy fitting what the response is;
UnexpectedErrors  an exception no handler took becomes one logged line and a JSON 500, and the
                  connection stays open (Starlette's own last resort re-raises it to the server,
                  which logs it a second time and closes the keep-alive connection);
HeadAsGet         HEAD is answered wherever GET is: the GET's status and headers, no body;
BodyLimit         a request body over the limit is refused with 413 as soon as its Content-Length
                  or the bytes received so far exceed it, so at most the limit is ever held; a body
                  that trickles in slower than the read timeout gets 408. A path may have its own
                  limit and timeout (the picture upload's 8 MiB); every other path has the global one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# The page's policy: the same as web/index.html's <meta> (which cannot say frame-ancestors). The page
# loads only its own scripts and styles; it calls the API and shows images from itself, https (the
# Function, signed Blob URLs) and local servers.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; connect-src 'self' https: http://localhost:* http://127.0.0.1:*; "
    "img-src 'self' data: https: http://localhost:* http://127.0.0.1:*; frame-ancestors 'none'"
)
# FastAPI's Swagger UI at /api/docs: its bundle and styles from jsDelivr, one inline script.
DOCS_CSP = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'"
)
# Everything else (JSON, images, scripts, styles): nothing may run if it is opened as a document, so
# a file planted among the images cannot script the page's origin.
RESOURCE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"


def content_security_policy(path: str, content_type: str) -> str:
    if content_type.startswith("text/html"):
        return DOCS_CSP if path.startswith("/api/docs") else PAGE_CSP
    return RESOURCE_CSP


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                content_type = next(
                    (v.decode("latin-1") for n, v in headers if n.lower() == b"content-type"), ""
                )
                wanted = {
                    b"x-content-type-options": "nosniff",
                    b"referrer-policy": "no-referrer",
                    b"content-security-policy": content_security_policy(scope["path"], content_type),
                }
                headers += [(name, value.encode()) for name, value in wanted.items() if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def json_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> tuple[Message, Message]:
    """The two ASGI messages of an ``{"error": {"status", "message"}}`` response."""
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    return (
        {"type": "http.response.start", "status": status, "headers": raw},
        {"type": "http.response.body", "body": body},
    )


class UnexpectedErrors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("%s %s failed: %s", scope["method"], scope["path"], describe(exc))
            if not started:
                for message in json_error(500, "internal error: the failure was logged; please try again"):
                    await send(message)


def describe(exc: BaseException) -> str:
    """One line: the exception, its message's first line and where it was raised."""
    text = str(exc).strip().splitlines()
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    place = (
        f" (at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno} in {where[0].name})" if where else ""
    )
    return f"{type(exc).__name__}: {text[0] if text else ''}{place}"


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        read_seconds: float,
        paths: Mapping[str, tuple[int, float]] | None = None,
    ) -> None:
        """``paths``: path -> (max_bytes, read_seconds) where a route takes larger bodies than the rest."""
        self.app = app
        self.max_bytes = max_bytes
        self.read_seconds = read_seconds
        self.paths = dict(paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD") and not any(
            name.lower() in _BODY_HEADERS for name, _ in scope.get("headers", [])
        ):
            # A GET without Content-Length or Transfer-Encoding has no body (HTTP/1.1): nothing to read
            # or limit. Reading its empty body cost 1-2 ms a query (docs/tags.md "latency").
            await self.app(scope, receive, send)
            return
        limit, seconds = self.paths.get(scope["path"], (self.max_bytes, self.read_seconds))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            message = f"request body is too large: {declared} bytes, the limit is {limit}"
            await self._refuse(send, 413, message)
            return
        try:
            async with asyncio.timeout(seconds):
                first = await self._read_body(receive, limit)
        except TimeoutError:
            await self._refuse(send, 408, f"request body did not arrive within {seconds:g} s")
            return
        if first is None:
            await self._refuse(
                send, 413, f"request body is too large: over {limit} bytes, the limit is {limit}"
            )
            return
        if first["type"] == "http.disconnect":  # the client left before its body ended: nobody to answer
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _read_body(receive: Receive, limit: int) -> Message | None:
        """The whole body as one message (or the disconnect that ended it); None past ``limit``."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    @staticmethod
    async def _refuse(send: Send, status: int, message: str) -> None:
        # Connection: close, since the rest of the body was not read.
        for part in json_error(status, message, {"Connection": "close"}):
            await send(part)


_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
