"""The Function ships function_app/ and core/ only (.funcignore): its query path must import nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("function_app", "core", "search_function")
NEVER = ("torch", "transformers", "sentence_transformers", "sklearn")

# Import the entry script as the host does, answer a search and a health check through the API, then
# list every module of this checkout and every library that got imported.
_SCRIPT = """
import json, sys
from pathlib import Path
import search_function  # the Functions host's import
from fastapi.testclient import TestClient
from function_app.api import create_api
from function_app.settings import Settings
import os
client = TestClient(create_api(Settings.from_env(os.environ)))
search = client.get("/api/search", params={"q": "a dog on a beach", "k": 3})
health = client.get("/api/health")
root = Path(sys.argv[1]).resolve()
ours = sorted(
    name for name, module in sys.modules.items()
    if (getattr(module, "__file__", None) or "").startswith(str(root)) and ".venv" not in module.__file__
)
print(json.dumps({"search": search.status_code, "health": health.status_code, "ours": ours,
                  "loaded": sorted(name.split(".")[0] for name in sys.modules)}))
"""


def test_the_query_path_imports_only_function_app_and_core(
    indexed: tuple[str, Path, str], tmp_path: Path
) -> None:
    dsn, share, _ = indexed
    images = tmp_path / "images"
    images.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": str(share),
        "IMAGE_STORE": "folder",
        "IMAGES_DIR": str(images),
    }
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(PROJECT_ROOT)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["search"], report["health"]) == (200, 200)  # the whole query path ran
    assert "function_app.service" in report["ours"] and "core.text_encoder" in report["ours"]
    outside = [name for name in report["ours"] if name.split(".")[0] not in SHIPPED]
    assert outside == []
    assert sorted(set(NEVER) & set(report["loaded"])) == []
