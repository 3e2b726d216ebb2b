"""The page on a phone and on a desktop: no sideways scrolling, a sensible number of columns."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import SearchExamples


def columns(page: Page) -> int:
    lefts = page.locator(".result").evaluate_all(
        "items => items.map(item => item.getBoundingClientRect().left)"
    )
    return len(set(round(left) for left in lefts))


def no_sideways_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_phone_layout(phone_page: Page, search_site: str, search_examples: SearchExamples) -> None:
    phone_page.goto(search_site)
    phone_page.fill("#q", search_examples.query)
    phone_page.press("#q", "Enter")
    expect(phone_page.locator(".result").first).to_be_visible()

    assert columns(phone_page) == 2
    assert no_sideways_scroll(phone_page)
    box = phone_page.locator("#q").bounding_box()
    assert box is not None
    assert box["width"] > 200  # the search box gets the row, not a sliver beside the title


def test_desktop_layout(page: Page, search_site: str, search_examples: SearchExamples) -> None:
    page.goto(search_site)
    page.fill("#q", search_examples.query)
    page.press("#q", "Enter")
    expect(page.locator(".result").first).to_be_visible()

    assert columns(page) >= 4
    assert no_sideways_scroll(page)


def test_long_unbroken_text_does_not_widen_the_page(phone_page: Page, search_site: str) -> None:
    phone_page.goto(search_site)
    phone_page.fill("#q", "x" * 400 + " dog")
    phone_page.press("#q", "Enter")
    status = phone_page.locator("#status")
    expect(status).to_have_attribute("data-state", "results")
    expect(status).to_contain_text("“" + "x" * 120 + "…”")  # long queries are shortened in messages
    assert no_sideways_scroll(phone_page)
