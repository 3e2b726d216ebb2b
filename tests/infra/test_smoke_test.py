"""infra/scripts/smoke-test.sh against the real API under uvicorn: a deployment without a bundle yet
passes with a warning, a broken one fails, a working one passes both checks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from function_app.api import create_api
from tests.function_app.conftest import make_settings
from tests.function_app.serving import free_port, served

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "scripts" / "smoke-test.sh"


def smoke_test(dsn: str, share: Path, images: Path) -> subprocess.CompletedProcess[str]:
    with served(create_api(make_settings(dsn, share, images))) as (host, port):
        env = {
            **os.environ,
            "SEARCH_API_URL": f"http://{host}:{port}/",
            "SMOKE_ATTEMPTS": "2",
            "SMOKE_WAIT_SECONDS": "0",
        }
        return subprocess.run(
            ["bash", str(SCRIPT), "a dog"], env=env, capture_output=True, text=True, timeout=120
        )


def test_no_bundle_yet_passes_with_a_warning(fresh_dsn: str, tmp_path: Path) -> None:
    done = smoke_test(fresh_dsn, tmp_path / "empty-share", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "::warning title=smoke test::no search bundle on the model share yet" in done.stdout
    assert "/api/search" not in done.stdout  # a search would only answer 503


def test_an_unreachable_database_fails_even_without_a_bundle(tmp_path: Path) -> None:
    done = smoke_test(
        f"postgresql://search@127.0.0.1:{free_port()}/search", tmp_path / "empty-share", tmp_path
    )
    assert done.returncode == 1
    assert "attempt 2/2: " in done.stderr
    assert "smoke test failed: http://127.0.0.1:" in done.stderr
    assert '"reachable":false' in done.stderr


def test_a_working_deployment_passes_health_and_a_search(
    indexed: tuple[str, Path, str], tmp_path: Path
) -> None:
    dsn, share, _ = indexed
    done = smoke_test(dsn, share, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ok: http://127.0.0.1:" in done.stdout
    assert "/api/search?q=a+dog&k=5" in done.stdout
    assert "warning" not in done.stdout
