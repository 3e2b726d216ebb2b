"""The words read in a picture (the OCR stage) on a result card and in the larger view."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import ScriptedSite
from tests.web.scripted_api import result


def test_text_in_picture_is_shown_with_shared_words_marked(page: Page, scripted_site: ScriptedSite) -> None:
    sign = {**result(1, "a green sign"), "text_in_picture": "BAKERY <b>Fresh</b> Bread"}
    scripted_site.api.answer_results([sign, result(2, "a cat"), {**result(3, "a dog"), "text_in_picture": 7}])
    page.goto(scripted_site.url)
    page.fill("#q", "fresh bread")
    page.press("#q", "Enter")

    read = page.locator(".result").first.locator(".result-read")
    expect(read).to_have_text("text in picture: BAKERY <b>Fresh</b> Bread")  # markup stays text
    assert read.locator("mark").all_inner_texts() == ["Fresh", "Bread"]
    expect(page.locator(".result").nth(1).locator(".result-read")).to_have_count(0)  # none read
    expect(page.locator(".result").nth(2).locator(".result-read")).to_have_text("text in picture: 7")

    page.locator(".result-open").first.click()
    viewer_read = page.locator("#viewer-caption .result-read")
    expect(viewer_read).to_have_text("text in picture: BAKERY <b>Fresh</b> Bread")
