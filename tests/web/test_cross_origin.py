"""The deployed shape: the page on one origin (Blob static website), the API on another (the Function)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import WebIndex
from tests.web.real_site import free_port, real_search_site
from tests.web.site_server import SiteServer


@pytest.fixture(scope="module")
def split_sites(web_index: WebIndex) -> Iterator[tuple[str, str]]:
    """(page URL, API URL): a static site whose config.js points at the real API on another origin,
    which allows exactly that origin (CORS_ALLOWED_ORIGINS), as in Azure."""
    static_port = free_port()
    api_port = free_port()
    config = (
        f'window.SEARCH_CONFIG = {{ apiBase: "http://127.0.0.1:{api_port}/" }};'  # trailing slash tolerated
    )
    with (
        real_search_site(
            web_index.dsn,
            web_index.share,
            web_index.images,
            cors_origins=[f"http://127.0.0.1:{static_port}"],
            port=api_port,
        ) as api,
        SiteServer(None, config_js=config, port=static_port) as static,
    ):
        yield static.url, api


def test_page_calls_the_configured_api_and_loads_its_images(page: Page, split_sites: tuple[str, str]) -> None:
    site, api = split_sites
    page.goto(f"{site}/?q=dog")

    first = page.locator(".result").first
    expect(first).to_be_visible()
    img = first.locator("img")
    # Relative image URLs belong to the API's server, not to the static site.
    assert (img.get_attribute("src", timeout=1000) or "").startswith(f"{api}/images/")
    img.evaluate("img => img.decode()")
    assert img.evaluate("img => img.naturalWidth") > 0
