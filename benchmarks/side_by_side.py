"""Cold start and warm latency of this checkout and an earlier one, measured side by side in one run.

    git worktree add /tmp/before COMMIT
    .venv/bin/python -m benchmarks.side_by_side --before /tmp/before --runs 5 --requests 300

Both trees serve the same index (the one `./dev demo` builds, or MODEL_SHARE_PATH and DATABASE_URL)
from this checkout's virtualenv. Cold start: fresh processes alternate between the trees, each
importing the Function entry script and answering one query (benchmarks/cold_start.py's child).
Warm: one `function_app.cli serve` per tree, requests alternated between them, the first 10 dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from benchmarks.cold_start import CHILD

HERE = Path(__file__).resolve().parents[1]
QUERIES = ("a red flower", "a cat on a chair", "an old car", "a map of the world", "a smiling sun")


def environment() -> dict[str, str]:
    env = {**os.environ, "IMAGE_STORE": "folder"}
    env.setdefault("MODEL_SHARE_PATH", str(HERE / ".data" / "share"))
    env.setdefault("IMAGES_DIR", str(HERE / ".data" / "demo"))
    if "DATABASE_URL" not in env:
        from core.database import default_embedded_dir, start_embedded_postgres

        env["DATABASE_URL"] = start_embedded_postgres(default_embedded_dir(HERE))
    return env


def cold_start(trees: dict[str, Path], env: dict[str, str], runs: int) -> None:
    child_env = {**env, "FUNCTIONS_WORKER_RUNTIME": "python"}
    totals: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(runs):
        for name, tree in trees.items():
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", CHILD], cwd=tree, env=child_env, capture_output=True, check=True
            )
            totals[name].append(time.perf_counter() - started)
    print(f"| cold start, {runs} runs each, alternated | new process to first answer, median s |\n|---|---|")
    for name, values in totals.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


def warm(trees: dict[str, Path], env: dict[str, str], requests: int) -> None:
    ports = {name: 8801 + i for i, name in enumerate(trees)}
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "function_app.cli", "serve", "--port", str(ports[name])],
            cwd=tree,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, tree in trees.items()
    ]
    try:
        for port in ports.values():
            _wait_healthy(port)
        round_trips: dict[str, list[float]] = {name: [] for name in trees}
        for i in range(requests + 10):
            for name, port in ports.items():
                query = urllib.parse.urlencode({"q": QUERIES[i % len(QUERIES)], "k": 10})
                started = time.perf_counter()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?{query}") as response:
                    json.load(response)
                if i >= 10:
                    round_trips[name].append((time.perf_counter() - started) * 1000)
    finally:
        for server in servers:
            server.terminate()
    print(f"\n| warm HTTP, {requests} requests each, alternated | median ms | p90 ms |\n|---|---|---|")
    for name, values in round_trips.items():
        ordered = sorted(values)
        print(f"| {name} | {statistics.median(ordered):.2f} | {ordered[int(len(ordered) * 0.9)]:.2f} |")


def _wait_healthy(port: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server on port {port} did not become healthy in {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the earlier commit")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    trees = {f"before ({args.before})": args.before.resolve(), "after (this checkout)": HERE}
    env = environment()
    cold_start(trees, env, args.runs)
    warm(trees, env, args.requests)


if __name__ == "__main__":
    main()
