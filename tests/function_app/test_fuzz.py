"""A property-based fuzzer over the published OpenAPI schema (schemathesis), against the real server.

uvicorn serves the API over the session's real index in PostgreSQL; schemathesis generates requests
from /api/openapi.json, valid ones and ones that break the schema, for every operation. A 5xx, a
status, content type, header or body that the schema does not declare, or an answer slower than 1 s
fails the test. The examples per operation are bounded so that it runs in well under a minute here.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from function_app.api import create_api
from tests.function_app.conftest import make_settings
from tests.function_app.serving import served
from tests.pictures import picture_share

MAX_SECONDS = 5.0  # a hang guard, not a speed target: a picture search on a loaded 2-core runner took 1.5 s
EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def base_url(
    indexed: tuple[str, Path, str], images_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    dsn, share, version = indexed
    share = picture_share(share, version, tmp_path_factory.mktemp("fuzz-picture"))  # so pictures are searched
    with served(create_api(make_settings(dsn, share, images_dir))) as (host, port):
        base = f"http://{host}:{port}"
        httpx.get(f"{base}/api/search", params={"q": "warm up"}, timeout=60).raise_for_status()
        picture = io.BytesIO()
        Image.new("RGB", (8, 8)).save(picture, "PNG")
        headers = {"Content-Type": "image/png"}  # loads the picture encoder before the clock starts
        httpx.post(f"{base}/api/search/image", content=picture.getvalue(), headers=headers, timeout=60)
        yield base


def _published_schema() -> dict[str, object]:
    """The schema the server below publishes: it depends on the settings' limits, not on the index."""
    folder = Path(__file__).parent
    return create_api(make_settings("postgresql://unused", folder, folder)).openapi()


schema = schemathesis.openapi.from_dict(_published_schema())


def test_the_fuzzed_schema_is_the_one_the_server_publishes(base_url: str) -> None:
    assert httpx.get(f"{base_url}/api/openapi.json").json() == _published_schema()


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_contract_under_fuzzing(case: Case, base_url: str) -> None:
    response = case.call(base_url=base_url, timeout=10)
    case.validate_response(response, checks=CHECKS)
    assert response.elapsed < MAX_SECONDS, f"{case.method} {case.path}: {response.elapsed:.2f} s"


def test_the_schema_states_the_search_contract() -> None:  # issue 18 row 14: it declared nothing
    paths = _published_schema()["paths"]
    get, post = paths["/api/search"]["get"], paths["/api/search"]["post"]  # type: ignore[index]
    params = {p["name"]: p for p in get["parameters"]}
    assert params["q"]["required"] is True
    assert params["q"]["schema"] == {"type": "string", "minLength": 1, "maxLength": 512}
    assert params["k"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}
    assert params["nprobe"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 32768}
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert (set(body["properties"]), body["required"], body["additionalProperties"]) == (
        {"q", "k", "nprobe", "taken_after", "taken_before", "folder", "tag", "sort"},
        ["q"],
        False,
    )
    assert set(get["responses"]) == {"200", "400", "503"}
    assert set(post["responses"]) == {"200", "400", "408", "413", "503"}
    assert "Retry-After" in post["responses"]["503"]["headers"]
    assert set(paths["/api/health"]["get"]["responses"]) == {"200", "503"}  # type: ignore[index]
