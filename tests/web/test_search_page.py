"""The search page against `search_site` (the page and a search API over an index)."""

from __future__ import annotations

import re
from urllib.parse import quote

from playwright.sync_api import Page, expect

from tests.web.conftest import SearchExamples

SCORE = re.compile(r"^match \d\.\d\d$")


def search(page: Page, query: str) -> None:
    page.fill("#q", query)
    page.press("#q", "Enter")


def test_typing_shows_results_with_captions_scores_and_thumbnails(
    page: Page, search_site: str, search_examples: SearchExamples, api_calls: list[dict[str, str]]
) -> None:
    page.goto(search_site)
    page.locator("#q").press_sequentially(search_examples.query, delay=20)

    results = page.locator(".result")
    expect(results.first).to_be_visible()
    expect(page.locator("#status")).to_contain_text(f"results for “{search_examples.query}”")
    # Search as you type waits for a pause: one request, not one per key.
    assert len(api_calls) == 1
    assert api_calls[0]["q"] == search_examples.query
    assert page.url.endswith("?q=" + quote(search_examples.query).replace("%20", "+"))

    for i in range(min(results.count(), 5)):
        card = results.nth(i)
        caption = card.locator(".result-caption").inner_text()
        assert caption.strip()
        assert SCORE.match(card.locator(".result-score").inner_text())
        expect(card.locator("img")).to_have_attribute("alt", caption)
    first = results.first
    expect(
        first.locator("mark").filter(has_text=re.compile(search_examples.shared_word, re.I))
    ).not_to_have_count(0)
    first.locator("img").evaluate("img => img.decode()")
    assert first.locator("img").evaluate("img => img.naturalWidth") > 0


def test_enter_searches_at_once(
    page: Page, search_site: str, search_examples: SearchExamples, api_calls: list[dict[str, str]]
) -> None:
    page.goto(search_site)
    # Set the text without an input event, so only Enter can start the search.
    page.locator("#q").evaluate("(box, q) => { box.value = q; }", search_examples.query)
    page.press("#q", "Enter")

    expect(page.locator(".result").first).to_be_visible()
    page.wait_for_timeout(400)  # longer than the debounce: no second request may follow
    assert [call["q"] for call in api_calls] == [search_examples.query]


def test_address_round_trip_and_back_button(
    page: Page, search_site: str, search_examples: SearchExamples
) -> None:
    first, second = search_examples.query, search_examples.other_query
    page.goto(f"{search_site}/?q={quote(first)}")
    expect(page.locator("#q")).to_have_value(first)
    expect(page.locator("#status")).to_contain_text(f"for “{first}”")
    expect(page).to_have_title(f"{first} – Image search")

    search(page, second)
    expect(page.locator("#status")).to_contain_text(f"for “{second}”")
    assert "?q=" + quote(second).replace("%20", "+") in page.url

    page.go_back()
    expect(page.locator("#q")).to_have_value(first)
    expect(page.locator("#status")).to_contain_text(f"for “{first}”")
    expect(page.locator(".result").first).to_be_visible()

    page.go_forward()
    expect(page.locator("#q")).to_have_value(second)
    expect(page.locator("#status")).to_contain_text(f"for “{second}”")


def test_refining_a_typed_query_is_one_back_step(
    page: Page, search_site: str, search_examples: SearchExamples, api_calls: list[dict[str, str]]
) -> None:
    query = search_examples.query
    start, rest = query[: len(query) // 2], query[len(query) // 2 :]
    page.goto(search_site)
    box = page.locator("#q")
    box.press_sequentially(start)
    expect(page.locator("#status")).to_contain_text(f"for “{start.strip()}”")
    box.press_sequentially(rest)
    expect(page.locator("#status")).to_contain_text(f"for “{query}”")
    assert len(api_calls) == 2

    page.go_back()  # past both typed searches, to the empty page
    expect(box).to_have_value("")
    expect(page.locator("#status")).to_have_attribute("data-state", "idle")
    expect(page.locator(".result")).to_have_count(0)


def test_weak_matches_are_cut_off_and_more_is_not_offered(
    page: Page, search_site: str, search_examples: SearchExamples
) -> None:
    page.goto(search_site)
    search(page, search_examples.query)
    results = page.locator(".result")
    expect(results.first).to_be_visible()
    assert 1 <= results.count() < 20  # 30 drawings; only those over the floor stay, and they are dogs
    captions = " ".join(results.locator(".result-caption").all_inner_texts())
    assert "dog" in captions and "pizza" not in captions
    expect(page.locator("#more")).to_be_hidden()


def test_more_results_appends_new_ones_and_moves_focus(
    page: Page, uncut_search_site: str, search_examples: SearchExamples, api_calls: list[dict[str, str]]
) -> None:
    page.goto(uncut_search_site)
    search(page, search_examples.query)
    results = page.locator(".result")
    expect(results).to_have_count(20)

    page.click("#more")
    expect(results).not_to_have_count(20)
    count = results.count()
    assert count > 20
    assert api_calls[-1]["k"] == "40"
    ids = results.evaluate_all("items => items.map(item => item.dataset.id)")
    assert len(set(ids)) == count
    expect(results.nth(20).locator(".result-open")).to_be_focused()
    # The button stays only while a full page came back and k can still grow.
    if count == 40:
        expect(page.locator("#more")).to_be_visible()
    else:
        expect(page.locator("#more")).to_be_hidden()


def test_keyboard_enter_tab_and_escape(page: Page, search_site: str, search_examples: SearchExamples) -> None:
    page.goto(search_site)
    page.focus("#q")
    page.keyboard.type(search_examples.query)
    page.keyboard.press("Enter")
    expect(page.locator(".result").first).to_be_visible()

    page.keyboard.press("Tab")
    expect(page.locator(".search-button")).to_be_focused()
    first_result = page.locator(".result").first.locator(".result-open")
    for _ in range(20):  # through the filter bar (a date input takes a Tab per part) to the results
        page.keyboard.press("Tab")
        if first_result.evaluate("el => el === document.activeElement"):
            break
    expect(first_result).to_be_focused()

    page.keyboard.press("Enter")
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    caption = page.locator(".result").first.locator(".result-caption").inner_text()
    expect(page.locator("#viewer-caption")).to_have_text(caption)
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(first_result).to_be_focused()


def test_click_opens_larger_view_and_close_button_closes_it(
    page: Page, search_site: str, search_examples: SearchExamples
) -> None:
    page.goto(search_site)
    search(page, search_examples.query)
    second = page.locator(".result").nth(1)
    caption = second.locator(".result-caption").inner_text()

    second.locator("img").click()
    expect(page.locator("#viewer-caption")).to_have_text(caption)
    expect(page.locator("#viewer-image img")).to_have_attribute("alt", caption)
    expect(page.locator("#viewer-close")).to_be_focused()
    page.click("#viewer-close")
    expect(page.locator("#viewer")).to_be_hidden()


PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"dog"'


def assert_not_executed(page: Page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("body script").count() == 0


def test_script_in_the_query_is_shown_as_text(page: Page, search_site: str) -> None:
    page.goto(search_site)
    search(page, PAYLOAD)

    expect(page.locator("#status")).to_contain_text(f"“{PAYLOAD}”")
    expect(page).to_have_title(f"{PAYLOAD} – Image search")
    expect(page.locator("#q")).to_have_value(PAYLOAD)
    assert_not_executed(page)


def test_script_in_a_shared_link_is_shown_as_text(page: Page, search_site: str) -> None:
    page.goto(f"{search_site}/?q={quote(PAYLOAD)}")

    expect(page.locator("#status")).to_contain_text(f"“{PAYLOAD}”")
    expect(page.locator("#q")).to_have_value(PAYLOAD)
    assert_not_executed(page)


def test_query_over_the_limit_is_stopped_with_a_message(
    page: Page, search_site: str, api_calls: list[dict[str, str]]
) -> None:
    page.goto(search_site)
    search(page, "dog " * 128 + "x")  # 513 characters

    hint = page.locator("#query-hint")
    expect(hint).to_have_text(
        "Your description is 513 characters long; the limit is 512. Shorten it to search."
    )
    expect(page.locator("#q")).to_have_attribute("aria-invalid", "true")
    page.wait_for_timeout(400)
    assert api_calls == []
    assert "?q=" not in page.url

    # The limit counts characters as the server does (code points), so 512 emoji are allowed.
    search(page, "🐕" * 512)
    expect(page.locator("#q")).to_have_attribute("aria-invalid", "false")
    expect(page.locator("#status")).to_have_attribute("data-state", re.compile("results|empty"))
    assert len(api_calls) == 1
    assert len(api_calls[0]["q"]) == 512
    expect(page.locator("#error")).to_be_hidden()


def test_query_over_the_limit_in_a_link_is_not_sent(
    page: Page, search_site: str, api_calls: list[dict[str, str]]
) -> None:
    page.goto(f"{search_site}/?q={'a' * 600}")

    expect(page.locator("#query-hint")).to_contain_text("600 characters long; the limit is 512")
    page.wait_for_timeout(400)
    assert api_calls == []


def test_whitespace_is_collapsed_before_counting_and_sending(
    page: Page, search_site: str, api_calls: list[dict[str, str]]
) -> None:
    page.goto(search_site)
    search(page, "  dog" + " \t " * 300 + "beach  ")  # over 512 characters as typed, 9 as the server reads it

    expect(page.locator("#status")).to_contain_text("for “dog beach”")
    expect(page.locator("#q")).to_have_attribute("aria-invalid", "false")
    assert [call["q"] for call in api_calls] == ["dog beach"]
