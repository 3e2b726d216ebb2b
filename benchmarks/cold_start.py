"""Cold start: time from a new Python process to the first answered query, bundle on local disk.

    .venv/bin/python -m benchmarks.cold_start --runs 5

Each run starts a fresh interpreter that imports the Function entry script as the Functions worker
does (search_function.py) and invokes the HTTP function once with a real azure.functions.HttpRequest.
The index is the one `./dev demo` builds (run it once first) or any index named by the usual settings.
Prints the median and each part: interpreter start + imports, then the first request (bundle load,
encoder session, first database connection, query).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = r"""
import time, json, sys
t0 = time.perf_counter()
import asyncio, importlib
sys.path.insert(0, ".")
module = importlib.import_module("search_function")
import azure.functions as func
t1 = time.perf_counter()
handler = module.app.get_functions()[0].get_user_function()
request = func.HttpRequest(method="GET", url="http://localhost/api/search?q=a+red+circle&k=5",
                           params={"q": "a red circle", "k": "5"}, body=b"")
response = asyncio.run(handler(request, None))
t2 = time.perf_counter()
assert response.status_code == 200, response.get_body()
print(json.dumps({"imports": t1 - t0, "first_request": t2 - t1}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "FUNCTIONS_WORKER_RUNTIME": "python", "IMAGE_STORE": "folder"}
    env.setdefault("MODEL_SHARE_PATH", ".data/share")
    env.setdefault("IMAGES_DIR", tempfile.gettempdir())  # the first query only needs URLs, not files
    if "DATABASE_URL" not in env:
        from core.database import default_embedded_dir, start_embedded_postgres
        from core.settings import PROJECT_ROOT

        env["DATABASE_URL"] = start_embedded_postgres(default_embedded_dir(PROJECT_ROOT))
    totals, imports, firsts = [], [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        output = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
        )
        totals.append(time.perf_counter() - started)
        parts = json.loads(output.stdout.strip().splitlines()[-1])
        imports.append(parts["imports"])
        firsts.append(parts["first_request"])
    print(f"| cold start, {args.runs} runs | median s | max s |\n|---|---|---|")
    for name, values in (
        ("new process to first answer", totals),
        ("imports (entry script)", imports),
        ("first request (bundle, encoder, DB, query)", firsts),
    ):
        print(f"| {name} | {np.median(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
