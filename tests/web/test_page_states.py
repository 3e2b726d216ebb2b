"""Loading, empty and error states, and odd answers, against a closed port or a scripted API."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import SCRIPTED_TIMEOUT_MS, ScriptedSite
from tests.web.scripted_api import result
from tests.web.site_server import error_body

# An image the scripted site serves (one of the double's drawings), for results whose image must load.
PIXEL = "/images/dogs/rex.svg"


def search(page: Page, query: str) -> None:
    page.fill("#q", query)
    page.press("#q", "Enter")


def many(n: int) -> list[dict[str, object]]:
    return [result(i, f"picture number {i}", score=1 - i / 100) for i in range(n)]


def test_loading_state_then_results(page: Page, scripted_site: ScriptedSite) -> None:
    scripted_site.api.answer_results([result(1, "a dog")], delay_s=0.8)
    page.goto(scripted_site.url)
    search(page, "dog")

    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "loading")
    expect(status).to_have_text("Searching for “dog”…")
    expect(page.locator("#results")).to_have_attribute("aria-busy", "true")
    expect(status).to_have_text("1 result for “dog” · 2 ms")
    expect(page.locator("#results")).not_to_have_attribute("aria-busy", "true")


def test_empty_state(page: Page, scripted_site: ScriptedSite) -> None:
    page.goto(scripted_site.url)
    search(page, "unicorn")

    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "empty")
    expect(status).to_have_text("No images match “unicorn”. Try fewer or different words.")
    expect(page.locator(".result")).to_have_count(0)
    expect(page.locator("#more")).to_be_hidden()


def test_api_down_shows_an_error_with_retry(page: Page, api_down_site: str) -> None:
    page.goto(api_down_site)
    search(page, "dog")

    expect(page.locator("#error-message")).to_have_text(
        "Could not reach the search service. Check your connection and try again."
    )
    expect(page.locator("#retry")).to_be_visible()
    expect(page.locator(".result")).to_have_count(0)


@pytest.mark.parametrize(
    ("status", "message", "shown", "can_retry"),
    [
        (
            500,
            "database connection lost",
            "The search service had a problem (error 500): database connection lost.",
            True,
        ),
        (400, "k must be an integer from 1 to 100", "k must be an integer from 1 to 100", False),
    ],
    ids=["server error, with retry", "bad request, without retry"],
)
def test_error_message_is_shown(
    page: Page, scripted_site: ScriptedSite, status: int, message: str, shown: str, can_retry: bool
) -> None:
    scripted_site.api.answer(status, error_body(status, message))
    page.goto(scripted_site.url)
    search(page, "dog")

    expect(page.locator("#error-message")).to_have_text(shown)
    if can_retry:
        expect(page.locator("#retry")).to_be_visible()
    else:
        expect(page.locator("#retry")).to_be_hidden()


def test_unavailable_is_explained_and_retry_recovers(page: Page, scripted_site: ScriptedSite) -> None:
    scripted_site.api.answer(503, error_body(503, "index is loading"))
    page.goto(scripted_site.url)
    search(page, "dog")
    expect(page.locator("#error-message")).to_have_text(
        "The search service is temporarily unavailable (index is loading). Please try again in a moment."
    )

    scripted_site.api.answer_results([result(1, "a dog", url=PIXEL)])
    page.click("#retry")
    expect(page.locator(".result")).to_have_count(1)
    expect(page.locator("#error")).to_be_hidden()
    assert scripted_site.api.queries == [("dog", 20), ("dog", 20)]


def test_gateway_error_without_json(page: Page, scripted_site: ScriptedSite) -> None:
    scripted_site.api.answer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    page.goto(scripted_site.url)
    search(page, "dog")

    expect(page.locator("#error-message")).to_have_text("The search service had a problem (error 502).")
    assert page.locator("h1", has_text="Bad Gateway").count() == 0


def test_timeout_is_reported(page: Page, scripted_site: ScriptedSite) -> None:
    scripted_site.api.answer_results([result(1, "a dog")], delay_s=SCRIPTED_TIMEOUT_MS / 1000 + 1)
    page.goto(scripted_site.url)
    search(page, "dog")

    expect(page.locator("#status")).to_have_attribute("data-state", "loading")
    expect(page.locator("#error-message")).to_have_text(
        "The search took too long (no answer within 1.5 s). Please try again."
    )
    expect(page.locator("#retry")).to_be_visible()


def test_unreadable_answer_is_reported(page: Page, scripted_site: ScriptedSite) -> None:
    scripted_site.api.answer(200, {"hits": []})
    page.goto(scripted_site.url)
    search(page, "dog")

    expect(page.locator("#error-message")).to_have_text(
        "The search service sent an answer this page could not read."
    )


def test_broken_image_shows_a_placeholder(page: Page, scripted_site: ScriptedSite) -> None:
    scripted_site.api.answer_results(
        [
            result(1, "a dog that loads", url=PIXEL),
            result(2, "a dog whose file is gone", url="/images/missing.png"),
            result(3, "a dog with a bad scheme", url="javascript:alert(1)"),
        ]
    )
    page.goto(scripted_site.url)
    search(page, "dog")

    cards = page.locator(".result")
    expect(cards).to_have_count(3)
    expect(cards.nth(0).locator("img")).to_be_visible()
    expect(cards.nth(0).locator(".image-missing")).to_have_count(0)
    for i in (1, 2):
        placeholder = cards.nth(i).locator(".image-missing")
        expect(placeholder).to_be_visible()
        expect(placeholder).to_have_text("Image unavailable")
        expect(cards.nth(i).locator("img")).to_have_count(0)
    expect(cards.nth(1).get_by_role("img")).to_have_accessible_name(
        "Image unavailable: a dog whose file is gone"
    )

    cards.nth(1).locator(".result-open").click()
    expect(page.locator("#viewer-image .image-missing")).to_be_visible()


def test_html_in_captions_is_shown_as_text(page: Page, scripted_site: ScriptedSite) -> None:
    caption = '<b>bold</b> dog <img src=x onerror="window.__xss=1">'
    scripted_site.api.answer_results([result(1, caption, url=PIXEL)])
    page.goto(scripted_site.url)
    search(page, "dog")

    expect(page.locator(".result-caption")).to_have_text(caption)
    expect(page.locator(".result-caption mark")).to_have_text("dog")
    assert page.locator(".result-caption b").count() == 0
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("window.__xss") is None


def test_a_slow_earlier_answer_does_not_replace_a_newer_one(page: Page, scripted_site: ScriptedSite) -> None:
    scripted_site.api.answer_results([result(1, "a slow dog", url=PIXEL)], delay_s=0.8, query="dog")
    scripted_site.api.answer_results([result(2, "a quick cat", url=PIXEL)], query="cat")
    page.goto(scripted_site.url)
    search(page, "dog")
    search(page, "cat")

    expect(page.locator(".result-caption")).to_have_text(["a quick cat"])
    page.wait_for_timeout(1000)  # the slow answer would have arrived by now
    expect(page.locator(".result-caption")).to_have_text(["a quick cat"])


def test_more_results_failure_keeps_what_is_shown(page: Page, scripted_site: ScriptedSite) -> None:
    scripted_site.api.answer_results(many(60))
    page.goto(scripted_site.url)
    search(page, "picture")
    expect(page.locator(".result")).to_have_count(20)

    scripted_site.api.answer(500, error_body(500, "worker crashed"))
    page.click("#more")
    expect(page.locator("#error-message")).to_contain_text("worker crashed")
    expect(page.locator(".result")).to_have_count(20)
    expect(page.locator("#more")).to_be_enabled()

    scripted_site.api.answer_results(many(60))
    page.click("#retry")
    expect(page.locator(".result")).to_have_count(40)
    assert scripted_site.api.queries[-1] == ("picture", 40)


def test_more_results_stops_at_100(page: Page, scripted_site: ScriptedSite) -> None:
    scripted_site.api.answer_results(many(150))
    page.goto(scripted_site.url)
    search(page, "picture")
    for shown in (40, 60, 80, 100):
        page.click("#more")
        expect(page.locator(".result")).to_have_count(shown)
    expect(page.locator("#more")).to_be_hidden()
    assert max(k for _, k in scripted_site.api.queries) == 100


def test_other_captions_are_shown_with_shared_words_marked(page: Page, scripted_site: ScriptedSite) -> None:
    with_alternatives = {
        **result(1, "a red bicycle"),
        "alternatives": ["a bike by a wooden fence", "<b>a red</b> bike", 7, ""],
    }
    scripted_site.api.answer_results([with_alternatives, result(2, "a cat")])
    page.goto(scripted_site.url)
    search(page, "bike near a fence")

    also = page.locator(".result").first.locator(".result-also")
    expect(also).to_have_text("also: a bike by a wooden fence; <b>a red</b> bike; 7")  # markup stays text
    assert also.locator("mark").all_inner_texts() == ["bike", "fence", "bike"]
    expect(page.locator(".result").nth(1).locator(".result-also")).to_have_count(0)


def test_tags_are_shown_as_chips_with_shared_words_marked_and_confidence_on_hover(
    page: Page, scripted_site: ScriptedSite
) -> None:
    tagged = result(
        1,
        "a drawing",
        tags=[("tabby", 0.61), ("cat", 0.61), ("<i>feline</i>", 0.8), ("pet", "x")],  # type: ignore[list-item]
    )
    scripted_site.api.answer_results([tagged, result(2, "a bike")])
    page.goto(scripted_site.url)
    search(page, "a cat on a mat")

    chips = page.locator(".result").first.locator(".result-tag")
    expect(chips).to_have_count(4)  # the results render after the answer arrives
    assert chips.all_inner_texts() == ["tabby", "cat", "<i>feline</i>", "pet"]  # markup stays text
    assert chips.locator("mark").all_inner_texts() == ["cat"]
    assert [chips.nth(i).get_attribute("title") for i in range(4)] == ["61% sure", "61% sure", "80% sure", ""]
    expect(page.locator(".result").nth(1).locator(".result-tags")).to_have_count(0)

    page.locator(".result-open").first.click()
    expect(page.locator("#viewer-caption .result-tag")).to_have_count(4)
