"""The real search API and page (function_app.api under uvicorn, in a thread) for the browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from function_app.api import create_api
from function_app.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def real_search_site(
    dsn: str,
    share: Path,
    images_dir: Path,
    *,
    cors_origins: Sequence[str] = (),
    port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Serve the page at / and the real API at /api/ over the given index; yields the base URL."""
    settings = Settings.from_env(
        {
            "DATABASE_URL": dsn,
            "MODEL_SHARE_PATH": str(share),
            "IMAGE_STORE": "folder",
            "IMAGES_DIR": str(images_dir),
            "CORS_ALLOWED_ORIGINS": ",".join(cors_origins),
            **(extra_env or {}),
        }
    )
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_api(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the search API did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
