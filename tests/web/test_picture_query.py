"""Search by picture on the page, against the real API with a picture-capable bundle: a picture dropped
on or pasted into the search box becomes the query, shown in the box; refused files say why."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import JSHandle, Page, expect

from core.bundle import current_version
from tests.pictures import picture_share
from tests.web.conftest import WebIndex
from tests.web.real_site import real_search_site
from training.synthetic import make_shapes

MAKE_TRANSFER = """([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  return transfer;
}"""


@pytest.fixture(scope="module")
def picture_site(web_index: WebIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("web-picture")
    share = picture_share(web_index.share, current_version(web_index.share), folder)
    with real_search_site(web_index.dsn, share, web_index.images) as url:
        yield url


@pytest.fixture(scope="module")
def shape(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("web-shape")
    return Path(folder / make_shapes(folder, 1)[0]).read_bytes()


def transfer(page: Page, data: bytes, name: str, media: str) -> JSHandle:
    return page.evaluate_handle(MAKE_TRANSFER, [base64.b64encode(data).decode(), name, media])


def picture_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/api/search/image" in r.url else None)
    return seen


def test_a_dropped_picture_is_the_query_and_shows_in_the_box(
    page: Page, picture_site: str, shape: bytes
) -> None:
    sent = picture_requests(page)
    page.goto(f"{picture_site}/?q=a+dog")
    expect(page.locator(".result").first).to_be_visible()
    page.dispatch_event(
        "#search-form", "drop", {"dataTransfer": transfer(page, shape, "shape.png", "image/png")}
    )

    chip = page.locator("#picture-query")
    expect(chip).to_be_visible()
    expect(chip.locator(".picture-query-name")).to_have_text("shape.png")
    expect(chip.locator("img")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(page.locator("#status")).to_contain_text("for your picture, read as “")
    expect(page.locator(".result").first).to_be_visible()
    expect(page.locator("#q")).to_have_value("")
    assert len(sent) == 1 and sent[0].endswith("/api/search/image?k=20")
    assert "q=" not in page.url  # a picture cannot live in the address
    assert page.locator(".result mark").count() == 0

    page.get_by_role("button", name="Clear the picture").click()
    expect(chip).to_be_hidden()
    expect(page.locator(".result")).to_have_count(0)


def test_a_pasted_picture_searches_and_typing_words_replaces_it(
    page: Page, picture_site: str, shape: bytes
) -> None:
    sent = picture_requests(page)
    page.goto(picture_site)
    handle = transfer(page, shape, "image.png", "image/png")
    page.evaluate(
        "(t) => document.getElementById('q').dispatchEvent("
        "new ClipboardEvent('paste', { clipboardData: t, bubbles: true, cancelable: true }))",
        handle,
    )
    expect(page.locator("#picture-query")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("for your picture, read as “")
    assert len(sent) == 1

    page.locator("#q").fill("a dog running on the beach")
    page.locator("#q").press("Enter")
    expect(page.locator("#picture-query")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text("for “a dog running on the beach”")


@pytest.mark.parametrize(
    ("name", "media", "data", "message"),
    [
        (
            "logo.svg",
            "image/svg+xml",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            "SVG pictures are not accepted: use a PNG, JPEG, GIF, WebP or BMP image.",
        ),
        (
            "notes.txt",
            "text/plain",
            b"hello",
            "“notes.txt” is not a picture this search can read: use a PNG, JPEG, GIF, WebP or BMP image.",
        ),
        ("huge.png", "image/png", b"\0" * (8 * 1024 * 1024 + 1), "“huge.png” is 8.0 MB; the limit is 8 MB."),
    ],
    ids=["svg", "text", "over-8MB"],
)
def test_a_file_that_is_not_a_usable_picture_is_refused_on_the_page(
    page: Page, picture_site: str, name: str, media: str, data: bytes, message: str
) -> None:
    sent = picture_requests(page)
    page.goto(picture_site)
    page.dispatch_event("#search-form", "drop", {"dataTransfer": transfer(page, data, name, media)})
    expect(page.locator("#error-message")).to_have_text(message)
    expect(page.locator("#retry")).to_be_hidden()
    expect(page.locator("#picture-query")).to_be_hidden()
    assert sent == []


def test_a_picture_the_server_refuses_shows_its_message(page: Page, picture_site: str) -> None:
    page.goto(picture_site)
    page.dispatch_event(
        "#search-form", "drop", {"dataTransfer": transfer(page, b"not a png", "x.png", "image/png")}
    )
    expect(page.locator("#error-message")).to_have_text(
        "the body is not a picture: send a PNG, JPEG, GIF, WebP or BMP image"
    )
