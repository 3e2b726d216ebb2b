"""The HTTP API under load: bounded request counts from a few threads, on loopback only."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.caption_corpus import CACHE
from benchmarks.search_latency import ms, serving


def http_load(dsn: str, share: Path, queries: list[str]) -> list[dict[str, float]]:
    env = {**os.environ, "DATABASE_URL": dsn, "MODEL_SHARE_PATH": str(share), "IMAGES_DIR": str(CACHE)}
    with serving(env) as base:
        return [
            load_level(base, queries, concurrency, min(len(queries), 100) * max(1, concurrency // 4))
            for concurrency in (1, 8, 32)
        ]


def load_level(base: str, queries: list[str], concurrency: int, total: int) -> dict[str, float]:
    """``total`` search requests from ``concurrency`` threads (after a short warm-up)."""
    import httpx

    times: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency)
    with httpx.Client(base_url=base, timeout=30, limits=limits) as client:

        def one(i: int) -> None:
            nonlocal errors
            started = time.perf_counter()
            response = client.get("/api/search", params={"q": queries[i % len(queries)], "k": 10})
            times.append(time.perf_counter() - started)
            errors += response.status_code != 200

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(min(20, total))))  # warm-up
            times.clear()
            started = time.perf_counter()
            list(pool.map(one, range(total)))
            elapsed = time.perf_counter() - started
    median, p99 = ms(times)
    print(
        f"  HTTP c={concurrency}: {total / elapsed:.0f} req/s, median {median:.1f} ms, p99 {p99:.1f} ms, "
        f"{errors} errors",
        flush=True,
    )
    return {
        "concurrency": concurrency,
        "requests": total,
        "rps": total / elapsed,
        "median_ms": median,
        "p99_ms": p99,
        "errors": errors,
    }
