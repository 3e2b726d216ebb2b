"""Fixtures for the browser tests of the search page (web/), driving Debian's Chromium.

`search_site` is the real thing: the search API (function_app.api under uvicorn) over a real index of
the 30 captioned drawings in corpus.py (ONNX encoder, PCA, clusters, PostgreSQL with pgvector), serving
the page at /. `search_examples` names queries that work on that index.

The states no real server can be asked for on demand (errors, slow or odd answers) use `scripted_site`,
the same page files in front of a scripted API; `api_down_site` points the page at a closed port.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, sync_playwright

from indexing.versions import CaptionedImage
from tests.conftest import index_corpus
from tests.web.browser import DESKTOP, PHONE, launch
from tests.web.corpus import CORPUS, write_thumbnails
from tests.web.real_site import real_search_site
from tests.web.scripted_api import ScriptedApi
from tests.web.site_server import SiteServer

# The scripted site gives up on a search sooner than the real config's 10 s, so timeouts test quickly.
SCRIPTED_TIMEOUT_MS = 1500


@dataclass(frozen=True)
class SearchExamples:
    """Queries for the index behind `search_site`."""

    query: str  # has more than 20 results; the first one's caption contains shared_word
    shared_word: str
    other_query: str  # has results, different from query's


@dataclass(frozen=True)
class ScriptedSite:
    url: str
    api: ScriptedApi


@dataclass(frozen=True)
class WebIndex:
    dsn: str
    share: Path
    images: Path


@pytest.fixture(scope="session")
def web_index(pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> WebIndex:
    """The drawings of corpus.py on disk and indexed through the real publishing code."""
    images = tmp_path_factory.mktemp("images")
    write_thumbnails(images)
    corpus = [CaptionedImage(f"img-{i}", name, caption) for i, (name, caption, _, _) in enumerate(CORPUS)]
    dsn, share, _ = index_corpus(pg_admin_dsn, encoder_dir, tmp_path_factory.mktemp("web-share"), corpus)
    return WebIndex(dsn, share, images)


@pytest.fixture(scope="session")
def search_site(web_index: WebIndex) -> Iterator[str]:
    """The real API over the index with a relevance floor an operator may set (SEARCH_MIN_SIMILARITY):
    the calibrated default has none (docs/quality.md), and the page must handle a short answer."""
    env = {"SEARCH_MIN_SIMILARITY": "0.3"}
    with real_search_site(web_index.dsn, web_index.share, web_index.images, extra_env=env) as url:
        yield url


@pytest.fixture(scope="session")
def uncut_search_site(web_index: WebIndex) -> Iterator[str]:
    """The same index with the relevance cutoff off, so every query fills every page (for paging)."""
    env = {"SEARCH_MIN_SIMILARITY": "off"}
    with real_search_site(web_index.dsn, web_index.share, web_index.images, extra_env=env) as url:
        yield url


@pytest.fixture(scope="session")
def search_examples() -> SearchExamples:
    return SearchExamples(query="a dog running on the beach", shared_word="dog", other_query="a cat sleeping")


@pytest.fixture(scope="session")
def api_down_site() -> Iterator[str]:
    """The page, configured to call an API on a port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = f'window.SEARCH_CONFIG = {{ apiBase: "http://127.0.0.1:{closed_port}" }};'
    with SiteServer(None, config_js=config) as server:
        yield server.url


@pytest.fixture(scope="session")
def _scripted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedSite]:
    api = ScriptedApi()
    images = tmp_path_factory.mktemp("scripted-images")
    write_thumbnails(images)
    config = f'window.SEARCH_CONFIG = {{ apiBase: "", timeoutMs: {SCRIPTED_TIMEOUT_MS} }};'
    with SiteServer(api, images_root=images, config_js=config) as server:
        yield ScriptedSite(server.url, api)


@pytest.fixture
def scripted_site(_scripted_server: ScriptedSite) -> ScriptedSite:
    """The page in front of a scripted API (see scripted_api.py), reset for each test."""
    _scripted_server.api.reset()
    return _scripted_server


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch(playwright)
    yield browser
    browser.close()


def _page(browser: Browser, **context_options: object) -> Iterator[Page]:
    context = browser.new_context(**context_options)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(5000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh desktop-sized tab; the test fails if the page throws an uncaught error."""
    yield from _page(browser, viewport=DESKTOP)


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)


@pytest.fixture
def api_calls(page: Page) -> list[dict[str, str]]:
    """The query parameters of every /api/search request the page makes, as they happen."""
    calls: list[dict[str, str]] = []

    def record(request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.path.endswith("/api/search"):
            calls.append({key: values[0] for key, values in parse_qs(parts.query).items()})

    page.on("request", record)
    return calls
