"""A real HTTP server for the browser tests: the page's files at /, a pluggable API at /api/.

The API is any callable `(path, params) -> ApiResponse`; the tests plug in the corpus double
(none, for a static site) or a scripted one (`scripted_api.ScriptedApi`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"


@dataclass(frozen=True)
class ApiResponse:
    """What the API answers: a dict body is sent as JSON, a str body as HTML (as a gateway would)."""

    status: int
    body: dict[str, Any] | str
    delay_s: float = 0.0


ApiHandler = Callable[[str, dict[str, list[str]]], ApiResponse]


def error_body(status: int, message: str) -> dict[str, Any]:
    """The API's error shape: {"error": {"status": ..., "message": ...}}."""
    return {"error": {"status": status, "message": message}}


class SiteServer:
    """Serves web_root at /, images_root at /images/ and api at /api/ on 127.0.0.1, in a thread.

    config_js, when given, replaces web/config.js (to point the page at another API or shorten its timeout).
    """

    def __init__(
        self,
        api: ApiHandler | None,
        *,
        web_root: Path = WEB_ROOT,
        images_root: Path | None = None,
        config_js: str | None = None,
        port: int = 0,
    ) -> None:
        handler = _handler_class(web_root, images_root, api, config_js)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="site-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_class(
    web_root: Path, images_root: Path | None, api: ApiHandler | None, config_js: str | None
) -> type[SimpleHTTPRequestHandler]:
    class Handler(SimpleHTTPRequestHandler):
        extensions_map = {  # noqa: RUF012 (the base class declares it as a plain class attribute)
            ".html": "text/html; charset=utf-8",
            ".js": "text/javascript; charset=utf-8",
            ".css": "text/css; charset=utf-8",
            ".svg": "image/svg+xml",
            ".png": "image/png",
            ".json": "application/json",
        }

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(web_root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path.startswith("/api/"):
                self._answer_api(parts.path, parse_qs(parts.query))
            elif parts.path == "/config.js" and config_js is not None:
                self._send(200, "text/javascript; charset=utf-8", config_js.encode())
            elif parts.path.startswith("/images/"):
                self._send_image(parts.path.removeprefix("/images/"))
            else:
                super().do_GET()

        def _answer_api(self, path: str, params: dict[str, list[str]]) -> None:
            if api is None:
                response = ApiResponse(404, error_body(404, "no API on this server"))
            else:
                response = api(path, params)
            if response.delay_s:
                time.sleep(response.delay_s)
            if isinstance(response.body, str):
                self._send(response.status, "text/html; charset=utf-8", response.body.encode())
            else:
                self._send(response.status, "application/json", json.dumps(response.body).encode())

        def _send_image(self, name: str) -> None:
            root = images_root.resolve() if images_root else None
            file = (root / name).resolve() if root else None
            if root is None or file is None or not file.is_relative_to(root) or not file.is_file():
                self._send(404, "text/plain", b"not found")
                return
            content_type = self.extensions_map.get(file.suffix, "application/octet-stream")
            self._send(200, content_type, file.read_bytes())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the page gave up waiting (the timeout tests), which is the point

    return Handler
