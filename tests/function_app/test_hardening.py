"""Issue 18's service rows: inputs that gave 500s or were read leniently, and what every response carries.

Each test names its row. Each failed before the fix: a 500 where a 400 is now, or a header missing.
"""

from __future__ import annotations

import http.client
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from function_app.api import WEB_DIR, create_api
from function_app.middleware import PAGE_CSP, RESOURCE_CSP
from function_app.settings import Settings
from tests.function_app.conftest import make_settings
from tests.function_app.serving import served

# --- rows 1, 6, 13: the query text --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("a\x00b", "query must not contain control characters: it contains U+0000"),  # row 1: was a 500
        ("dog\x07", "query must not contain control characters: it contains U+0007"),
        ("\u200b", "query must not be empty"),  # row 13: was 10 unrelated results
        (" \u200b\ufeff\u200d\t", "query must not be empty"),
    ],
)
def test_unusable_query_text_is_a_400_by_get_and_post(client: TestClient, query: str, message: str) -> None:
    for response in (
        client.get("/api/search", params={"q": query}),
        client.post("/api/search", json={"q": query}),
    ):
        assert response.status_code == 400
        assert response.json() == {"error": {"status": 400, "message": message}}


def test_tabs_and_newlines_are_whitespace_not_control_characters(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "a dog\ton a\nbeach", "k": 1})
    assert response.status_code == 200
    assert response.json()["query"] == "a dog on a beach"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"q": "\\ud800"}', "query must be valid Unicode: it contains a lone surrogate U+D800"),  # row 6
        (b'{"q": "a \\udfff b"}', "query must be valid Unicode: it contains a lone surrogate U+DFFF"),
        (b'{"q": "dog", "k": "\\ud800"}', "k must be an integer, got '\\\\ud800'"),
        (
            b'{"\\ud800": 1}',
            "unknown parameter(s): \\\\ud800; allowed: q, k, nprobe, taken_after, taken_before, folder, "
            "tag, sort",
        ),
    ],
)
def test_lone_surrogates_in_json_are_a_400(client: TestClient, body: bytes, message: str) -> None:
    response = client.post("/api/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message.replace("\\\\", "\\")


def test_a_valid_surrogate_pair_is_an_ordinary_character(client: TestClient) -> None:
    response = client.post("/api/search", json={"q": "a dog \U0001f415", "k": 1})
    assert response.status_code == 200


# --- rows 2 and 15: numbers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ivfflat_client(indexed: tuple[str, Path, str], images_dir: Path) -> TestClient:
    dsn, share, _ = indexed
    settings = make_settings(dsn, share, images_dir, SEARCH_EXACT_BELOW="10", SEARCH_MIN_SIMILARITY="off")
    return TestClient(create_api(settings))


def test_nprobe_beyond_pgvectors_limit_is_a_400_not_a_500(ivfflat_client: TestClient) -> None:  # row 2
    response = ivfflat_client.get("/api/search", params={"q": "dog", "nprobe": "1000000000"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "nprobe must be between 1 and 32768, got 1000000000"
    at_limit = ivfflat_client.get("/api/search", params={"q": "dog", "nprobe": "32768"})
    assert at_limit.status_code == 200
    assert at_limit.json()["strategy"] == "ivfflat"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": "1_0"}, "k must be an integer, got '1_0'"),  # row 15: was read as 10
        ({"k": "\u0661\u0660"}, "k must be an integer, got '\u0661\u0660'"),  # Arabic-Indic 10
        ({"k": " 10"}, "k must be an integer, got ' 10'"),
        ({"k": "+10"}, "k must be an integer, got '+10'"),
        ({"k": "0x10"}, "k must be an integer, got '0x10'"),
        ({"k": "-3"}, "k must be between 1 and 100, got -3"),
        (
            {"k": "1" * 5000},
            "k must be between 1 and 100, got 11111111111111111111…",
        ),  # was int() of 5000 digits
        ({"nprobe": "8_0"}, "nprobe must be an integer, got '8_0'"),
        ({"nprobe": "-1"}, "nprobe must be between 1 and 32768, got -1"),
    ],
)
def test_integers_are_ascii_digits_only(client: TestClient, params: dict[str, str], message: str) -> None:
    response = client.get("/api/search", params={"q": "dog", **params})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_leading_zeros_are_still_a_number(client: TestClient) -> None:
    assert client.get("/api/search", params={"q": "dog", "k": "007"}).json()["k"] == 7


# --- rows 7 and 15: JSON bodies -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 1000 + b"]" * 1000, "request body is nested too deeply: the limit is 32 levels"),  # row 7
        (
            b'{"q": ' + b"[" * 33 + b"]" * 33 + b"}",
            "request body is nested too deeply: the limit is 32 levels",
        ),
        (
            b'{"q": "dog", "k": 1' + b"0" * 5000 + b"}",
            "request body has an integer of 5001 digits; the limit is 20",
        ),
        (b'{"q": "dog", "q": "cat"}', "parameter(s) given more than once: q"),  # row 15: was the last one
        (b'{"q": "dog", "k": 3, "k": 4}', "parameter(s) given more than once: k"),
        (b'{"q": "dog", "k": 2.0}', "k must be an integer, got 2.0"),
        (b'{"q": "dog", "k": "1_0"}', "k must be an integer, got '1_0'"),
    ],
)
def test_hostile_json_bodies_are_a_400(client: TestClient, body: bytes, message: str) -> None:
    response = client.post("/api/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "message": message}}


def test_brackets_inside_strings_do_not_count_as_nesting(client: TestClient) -> None:
    response = client.post("/api/search", json={"q": "[[[[" * 40 + " dog"})
    assert response.status_code == 200


# --- row 9 and 10: the images folder -------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(indexed: tuple[str, Path, str], tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """A client over an images folder with files an attacker might plant beside the images."""
    folder = tmp_path_factory.mktemp("planted")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (folder / "evil.html").write_text("<script>alert(document.cookie)</script>")
    (folder / "evil.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    )
    (folder / "notes.txt").write_text("secret")
    (folder / ".hidden.png").write_bytes(b"\x89PNG")
    (folder / ".git").mkdir()
    (folder / ".git" / "config.png").write_bytes(b"\x89PNG")
    dsn, share, _ = indexed
    return TestClient(create_api(make_settings(dsn, share, folder)))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "evil.html",
            "not an image: 'evil.html'; only .gif, .jpeg, .jpg, .png, .svg, .webp files are served",
        ),
        (
            "notes.txt",
            "not an image: 'notes.txt'; only .gif, .jpeg, .jpg, .png, .svg, .webp files are served",
        ),
        (".hidden.png", "hidden files are not served: '.hidden.png'"),
        (".git/config.png", "hidden files are not served: '.git/config.png'"),
    ],
)
def test_only_image_files_that_are_not_hidden_are_served(
    planted: TestClient, name: str, message: str
) -> None:
    response = planted.get(f"/images/{name}")  # row 9: each of these was served
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "message": message}}


def test_images_are_served_with_nosniff_and_a_sandbox(planted: TestClient) -> None:
    response = planted.get("/images/photo.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == RESOURCE_CSP
    assert "sandbox" in RESOURCE_CSP and "default-src 'none'" in RESOURCE_CSP


def test_svg_is_served_sandboxed_so_its_script_cannot_run_on_this_origin(planted: TestClient) -> None:
    response = planted.get("/images/evil.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["content-security-policy"] == RESOURCE_CSP
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_over_long_name_part_is_a_400_not_a_500(planted: TestClient) -> None:  # row 10
    response = planted.get("/images/" + "a" * 256 + ".png")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "image name has a part of 260 bytes; the limit is 255"
    accented = planted.get("/images/" + "é" * 127 + ".png")  # 258 bytes in 131 characters
    assert accented.json()["error"]["message"] == "image name has a part of 258 bytes; the limit is 255"


def test_an_over_long_path_is_a_404_not_a_500(planted: TestClient) -> None:
    response = planted.get("/images/" + "/".join(["b" * 250] * 20) + ".png")  # 5,000 bytes: ENAMETOOLONG
    assert response.status_code == 404


# --- row 13: HEAD, 405, security headers --------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/health", "/api/search?q=a+dog", "/images/photos/img0000.png", "/"])
def test_head_is_answered_wherever_get_is(client: TestClient, path: str) -> None:
    got = client.get(path)
    head = client.head(path)
    assert (head.status_code, got.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/health", "GET, HEAD"),
        ("DELETE", "/api/search", "GET, HEAD, POST"),
        ("PUT", "/api/search", "GET, HEAD, POST"),
        ("POST", "/images/photos/img0000.png", "GET, HEAD"),
        ("POST", "/", "GET, HEAD"),
    ],
)
def test_405_says_which_methods_are_allowed(client: TestClient, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {"error": {"status": 405, "message": "method not allowed"}}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/search?q=dog", 200),
        ("GET", "/api/search?q=", 400),
        ("GET", "/api/nothing", 404),
        ("POST", "/api/health", 405),
        ("GET", "/api/health", 200),
        ("GET", "/styles.css", 200),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == RESOURCE_CSP


def test_the_page_gets_the_policy_of_its_own_meta_tag_plus_frame_ancestors(client: TestClient) -> None:
    response = client.get("/")
    assert response.headers["content-type"].startswith("text/html")
    meta = re.search(
        r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"', (WEB_DIR / "index.html").read_text()
    )
    assert meta is not None
    assert (
        response.headers["content-security-policy"]
        == " ".join(meta.group(1).split()) + "; frame-ancestors 'none'"
    )
    assert response.headers["content-security-policy"] == PAGE_CSP


# --- row 13: no internal paths in 503s and health ------------------------------------------------


def test_503_and_health_name_no_internal_paths(
    indexed: tuple[str, Path, str], tmp_path: Path, images_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, share, _ = indexed
    socket_dir = tmp_path / "no-server-here"
    settings = make_settings(f"postgresql://nobody@/nothing?host={socket_dir}", share, images_dir)
    client = TestClient(create_api(settings))
    with caplog.at_level(logging.WARNING):
        down = client.get("/api/search", params={"q": "dog"})
        health = client.get("/api/health")
    assert down.status_code == 503
    assert down.headers["retry-after"] == "5"
    message = down.json()["error"]["message"]
    assert message.startswith("the search database is unavailable: cannot connect to the database: ")
    assert '"…/.s.PGSQL.5432"' in message  # which file, not where
    assert health.status_code == 503
    assert health.json()["database"]["error"] == message.removeprefix("the search database is unavailable: ")
    for text in (down.text, health.text):
        assert str(tmp_path) not in text
    assert str(socket_dir) in caplog.text  # the operator still sees it


def test_a_missing_bundle_names_no_path(fresh_dsn: str, tmp_path: Path, images_dir: Path) -> None:
    client = TestClient(create_api(make_settings(fresh_dsn, tmp_path / "empty-share", images_dir)))
    response = client.get("/api/search", params={"q": "dog"})
    assert response.json()["error"]["message"] == (
        "the search index is not available: no search bundle at …/empty-share: "
        "…/CURRENT is missing (build an index first)"
    )
    assert str(tmp_path) not in client.get("/api/health").text


# --- row 8: an unexpected error ------------------------------------------------------------------


class _BrokenService:
    """Fails as a bug would; health still answers."""

    def search(self, query: str, k: int, nprobe: int | None = None, **options: Any) -> Any:
        raise RuntimeError(f"a bug\nwith a second line for {query!r}")

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "bundle": {"ok": True}, "database": {"reachable": True, "rows": 0}}


def test_a_500_logs_one_line_and_keeps_the_connection_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://x",
            "MODEL_SHARE_PATH": str(tmp_path),
            "IMAGE_STORE": "folder",
            "IMAGES_DIR": str(tmp_path),
        }
    )
    app = create_api(settings, lambda _: _BrokenService())  # type: ignore[arg-type, return-value]
    with served(app) as (host, port), caplog.at_level(logging.INFO):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        statuses = []
        for _ in range(5):
            conn.request("GET", "/api/search?q=dog")
            failed = conn.getresponse()
            body = failed.read()
            conn.request("GET", "/api/health")  # on the same connection: it failed 5 times in 10
            ok = conn.getresponse()
            ok.read()
            statuses.append((failed.status, ok.status))
            assert failed.getheader("connection") != "close"
            assert failed.getheader("x-content-type-options") == "nosniff"
        conn.close()
    assert statuses == [(500, 200)] * 5
    assert b'"internal error: the failure was logged; please try again"' in body
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 5  # one per failure: not Starlette's and uvicorn's tracebacks besides
    line = errors[0].getMessage()
    assert "\n" not in line and errors[0].exc_info is None
    assert re.fullmatch(
        r"GET /api/search failed: RuntimeError: a bug \(at test_hardening\.py:\d+ in search\)", line
    ), line
