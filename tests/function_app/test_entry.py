"""The Functions host's view of the app: import the entry script as the worker does, then call it."""

from __future__ import annotations

import asyncio
import importlib
import json
import pathlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest

ENTRY_SCRIPT = "search_function.py"  # the PYTHON_SCRIPT_FILE_NAME app setting in infra/


class InvocationContext(func.Context):
    """The parts of the host's invocation context that the ASGI middleware reads."""

    @property
    def invocation_id(self) -> str:
        return "test-invocation"

    @property
    def thread_local_storage(self) -> Any:
        return None

    @property
    def function_name(self) -> str:
        return "http_app_func"

    @property
    def function_directory(self) -> str:
        return str(Path(__file__).resolve().parents[2])

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


def import_like_the_host(script: str) -> ModuleType:
    """What the Python worker's loader does: import the script by its stem from the app root on sys.path."""
    module_name = pathlib.Path(script).stem
    sys.modules.pop(module_name, None)
    return importlib.import_module(module_name)


def function_registers(module: ModuleType) -> list[func.FunctionRegister]:
    return [v for name in dir(module) if isinstance(v := getattr(module, name, None), func.FunctionRegister)]


@pytest.fixture
def host_env(monkeypatch: pytest.MonkeyPatch, indexed: tuple[str, Path, str], tmp_path: Path) -> None:
    dsn, share, _ = indexed
    monkeypatch.setenv("FUNCTIONS_WORKER_RUNTIME", "python")
    monkeypatch.setenv("MODEL_SHARE_PATH", str(share))
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("IMAGE_STORE", "folder")
    monkeypatch.setenv("IMAGES_DIR", str(tmp_path))


def test_entry_script_is_not_shadowed_by_the_package() -> None:
    root = Path(__file__).resolve().parents[2]
    assert (root / ENTRY_SCRIPT).is_file()
    assert not (root / "function_app.py").exists()


def test_host_finds_exactly_one_app_with_a_catch_all_http_route(host_env: None) -> None:
    module = import_like_the_host(ENTRY_SCRIPT)
    apps = function_registers(module)
    assert len(apps) == 1
    functions = apps[0].get_functions()
    assert [f.get_function_name() for f in functions] == ["http_app_func"]
    described = json.loads(functions[0].get_function_json())
    http_binding = next(b for b in described["bindings"] if b["type"] == "httpTrigger")
    assert http_binding["name"] == "req"
    assert http_binding["route"] == "/{*route}"
    assert {"GET", "POST"} <= {m.upper() for m in http_binding["methods"]}
    assert http_binding["authLevel"].lower() == "anonymous"


def _invoke(module: ModuleType, request: func.HttpRequest) -> func.HttpResponse:
    # get_functions() may be called once per app (it checks names are unique), as the host does.
    if not hasattr(module, "_test_handler"):
        module._test_handler = function_registers(module)[0].get_functions()[0].get_user_function()  # type: ignore[attr-defined]
    handler = module._test_handler
    # Its own thread and event loop, as in the worker: a sync Playwright test run earlier in this
    # process leaves a loop running in the main thread, where asyncio.run() refuses to start.
    with ThreadPoolExecutor(1) as pool:
        response = pool.submit(asyncio.run, handler(request, InvocationContext())).result()
    assert isinstance(response, func.HttpResponse)
    return response


def test_search_through_the_function_with_real_request_types(host_env: None) -> None:
    module = import_like_the_host(ENTRY_SCRIPT)
    request = func.HttpRequest(
        method="GET",
        url="https://app.example.net/api/search?q=a+child+playing+in+a+green+field&k=3",
        params={"q": "a child playing in a green field", "k": "3"},
        body=b"",
    )
    response = _invoke(module, request)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = json.loads(response.get_body())
    assert body["results"][0]["caption"] == "a child playing in a green field"
    assert len(body["results"]) == 3


def test_post_and_errors_through_the_function(host_env: None) -> None:
    module = import_like_the_host(ENTRY_SCRIPT)
    ok = _invoke(
        module,
        func.HttpRequest(
            method="POST",
            url="https://app.example.net/api/search",
            headers={"content-type": "application/json"},
            body=json.dumps({"q": "two horses", "k": 2}).encode(),
        ),
    )
    assert ok.status_code == 200
    assert len(json.loads(ok.get_body())["results"]) == 2
    bad = _invoke(
        module,
        func.HttpRequest(
            method="GET", url="https://app.example.net/api/search?q=", params={"q": ""}, body=b""
        ),
    )
    assert bad.status_code == 400
    assert json.loads(bad.get_body()) == {"error": {"status": 400, "message": "query must not be empty"}}
    health = _invoke(
        module, func.HttpRequest(method="GET", url="https://app.example.net/api/health", body=b"")
    )
    assert health.status_code == 200
    assert json.loads(health.get_body())["status"] == "ok"


def test_missing_setting_fails_at_start_up_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCTIONS_WORKER_RUNTIME", "python")
    monkeypatch.delenv("MODEL_SHARE_PATH", raising=False)
    with pytest.raises(
        ValueError, match=r"MODEL_SHARE_PATH is not set \(the mount path of the model share\)"
    ):
        import_like_the_host(ENTRY_SCRIPT)
