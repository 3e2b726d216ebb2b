"""More like this on the page, against `search_site`: the button on a result and in the larger view,
the heading, the way back, and the address (?similar=<id>) through reload, Back and Forward."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import httpx
from playwright.sync_api import Locator, Page, expect

QUERY = "a dog running on the beach"


def address(page: Page) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(page.url).query).items()}


def similar_ids(site: str, image_id: str, k: int) -> list[str]:
    body = httpx.get(f"{site}/api/similar", params={"id": image_id, "k": k}).json()
    return [hit["id"] for hit in body["results"]]


def shown_ids(page: Page) -> list[str]:
    return page.locator(".result").evaluate_all("items => items.map(item => item.dataset.id)")


def search_and_pick(page: Page, site: str, query: str, index: int = 0) -> tuple[Locator, str]:
    """Opens the page at ?q=query; the result card at ``index`` and its image id."""
    page.goto(f"{site}/?q={quote(query)}")
    expect(page.locator(".result").first).to_be_visible()
    card = page.locator(".result").nth(index)
    image_id = card.get_attribute("data-id")
    assert image_id
    return card, image_id


def test_more_like_this_on_a_result_shows_its_similar_images_and_back_to_search_returns(
    page: Page, search_site: str
) -> None:
    first, source_id = search_and_pick(page, search_site, QUERY)
    text_results = shown_ids(page)

    first.get_by_role("button", name="More like this").click()
    heading = page.locator("#similar-heading")
    expect(heading).to_have_text("Similar to rex.svg")
    expect(heading).to_be_focused()
    expect(page.locator("#similar-thumb img")).to_have_attribute(
        "alt", "a brown dog running on a sandy beach"
    )
    expect(page.locator("#status")).to_contain_text("results similar to “rex.svg”")
    expect(page).to_have_title("Similar to rex.svg – Image search")
    assert address(page) == {"q": QUERY, "similar": source_id}
    expected = similar_ids(search_site, source_id, 20)
    expect(page.locator(".result")).to_have_count(len(expected))
    assert shown_ids(page) == expected
    assert source_id not in expected
    assert page.locator(".result mark").count() == 0  # no query words to mark

    page.get_by_role("button", name="Back to search").click()
    expect(page.locator("#similar-bar")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text(f"results for “{QUERY}”")
    assert address(page) == {"q": QUERY}
    expect(page.locator("#q")).to_have_value(QUERY)
    assert shown_ids(page) == text_results


def test_the_similar_view_survives_reload_back_and_forward(page: Page, search_site: str) -> None:
    second, source_id = search_and_pick(page, search_site, QUERY, 1)
    second.get_by_role("button", name="More like this").click()
    expect(page.locator("#similar-bar")).to_be_visible()
    expected = similar_ids(search_site, source_id, 20)
    expect(page.locator(".result")).to_have_count(len(expected))

    page.reload()
    expect(page.locator("#similar-heading")).to_have_text(
        f"Similar to {similar_name(search_site, source_id)}"
    )
    expect(page.locator(".result")).to_have_count(len(expected))
    assert shown_ids(page) == expected
    expect(page.locator("#q")).to_have_value(QUERY)

    page.go_back()
    expect(page.locator("#similar-bar")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text(f"results for “{QUERY}”")
    page.go_forward()
    expect(page.locator("#similar-bar")).to_be_visible()
    expect(page.locator(".result").first).to_have_attribute("data-id", expected[0])


def similar_name(site: str, image_id: str) -> str:
    body = httpx.get(f"{site}/api/similar", params={"id": image_id, "k": 1}).json()
    return str(body["source"]["name"]).rsplit("/", 1)[-1]


def test_more_like_this_in_the_larger_view_closes_it_and_shows_similar_images(
    page: Page, search_site: str
) -> None:
    first, source_id = search_and_pick(page, search_site, "a cat sleeping")
    first.locator(".result-open").click()
    dialog = page.locator("#viewer")
    expect(dialog).to_be_visible()

    dialog.get_by_role("button", name="More like this").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#similar-bar")).to_be_visible()
    assert address(page)["similar"] == source_id
    expect(page.locator(".result").first).to_have_attribute(
        "data-id", similar_ids(search_site, source_id, 1)[0]
    )


def test_an_unknown_id_in_the_address_says_so_and_a_new_search_leaves_the_view(
    page: Page, search_site: str
) -> None:
    page.goto(f"{search_site}/?similar=no-such-image")
    expect(page.locator("#error-message")).to_have_text("no image with id 'no-such-image' in the index")
    expect(page.locator("#retry")).to_be_hidden()  # a 404: trying again cannot help
    expect(page.locator("#similar-heading")).to_have_text("Similar to no-such-image")

    page.fill("#q", QUERY)
    page.press("#q", "Enter")
    expect(page.locator("#similar-bar")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text(f"results for “{QUERY}”")
    assert address(page) == {"q": QUERY}
