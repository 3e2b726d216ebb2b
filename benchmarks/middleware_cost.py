"""What the API's middleware adds to a search, in process: the ASGI app with all of it, with each one left
out, and with none, called in turn query by query.

    .venv/bin/python -m benchmarks.middleware_cost --rounds 300

Serves the index that MODEL_SHARE_PATH and DATABASE_URL name (default: search_latency.py's 100k-row
one, which that script builds). Prints, per app, the median milliseconds a GET /api/search spends
outside SearchService.search (the ASGI app's time less the service's own `timing_ms.total`): routing,
parameter checks, JSON and the middleware.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.caption_corpus import CACHE

QUERIES = (
    "a black dog on the beach",
    "an old man riding a wave",
    "a red car on a street",
    "two cats on a sofa",
)


async def outside_service(app: Any, query: str) -> float:
    """Milliseconds of one GET /api/search outside the search service."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/search",
        "raw_path": b"/api/search",
        "query_string": f"q={query.replace(' ', '+')}&k=10".encode(),
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "server": ("bench", 80),
        "client": ("bench", 1),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.perf_counter()
    await app(scope, receive, send)
    total = (time.perf_counter() - started) * 1000
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    return total - float(body["timing_ms"]["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    from core.database import start_embedded_postgres
    from function_app.api import create_api
    from function_app.settings import Settings

    dsn = os.environ.get("DATABASE_URL") or start_embedded_postgres(
        Path(tempfile.gettempdir()) / "caption-search-bench-pg", database="bench"
    )
    share = os.environ.get("MODEL_SHARE_PATH", str(CACHE / "share-100000"))
    env = {
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": share,
        "IMAGES_DIR": str(CACHE),
        "BUNDLE_CHECK_SECONDS": "0",
    }
    settings = Settings.from_env(env)
    apps = {"all middleware": create_api(settings)}
    for middleware in apps["all middleware"].user_middleware:
        name = middleware.cls.__name__  # type: ignore[attr-defined]
        app = create_api(settings)
        app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ != name]  # type: ignore[attr-defined]
        apps[f"without {name}"] = app
    bare = create_api(settings)
    bare.user_middleware = []
    apps["no middleware"] = bare

    async def run() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {name: [] for name in apps}
        for i in range(args.rounds + 20):  # the first 20 rounds warm up
            for name, app in apps.items():
                spent = await outside_service(app, QUERIES[i % len(QUERIES)])
                if i >= 20:
                    times[name].append(spent)
        return times

    times = asyncio.run(run())
    print(f"GET /api/search outside the service, {args.rounds} rounds, apps in turn\n")
    print("| app | median ms |\n|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
