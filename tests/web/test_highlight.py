"""Which caption words are marked as shared with the query (web/js/highlight.js, view.js), in the browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.web.conftest import ScriptedSite

MARKED = """([caption, query]) => import("/js/highlight.js").then(
    (m) => m.highlightSegments(caption, query).filter((s) => s.match).map((s) => s.text))"""


@pytest.fixture
def site_page(page: Page, scripted_site: ScriptedSite) -> Page:
    page.goto(scripted_site.url)
    return page


@pytest.mark.parametrize(
    ("caption", "query", "marked"),
    [
        ("a brown dog running on a sandy beach", "dog beach", ["dog", "beach"]),
        ("Two Dogs playing", "a dog", ["Dogs"]),  # case and plural do not matter
        ("a dog on the grass", "a dog on the grass", ["dog", "grass"]),  # stop words stay unmarked
        ("a glass of water", "glass", ["glass"]),  # "ss" is not a plural
        ("Ein Hund läuft über die Wiese", "hund LÄUFT", ["Hund", "läuft"]),
        ("a cat", "dog", []),
    ],
)
def test_shared_words_are_marked(site_page: Page, caption: str, query: str, marked: list[str]) -> None:
    assert site_page.evaluate(MARKED, [caption, query]) == marked


def test_segments_give_the_caption_back_unchanged(site_page: Page) -> None:
    caption = "  a dog, a DOG's ball & <b>dogs</b>!  "
    joined = site_page.evaluate(
        """([c, q]) => import("/js/highlight.js").then(
            (m) => m.highlightSegments(c, q).map((s) => s.text).join(""))""",
        [caption, "dog"],
    )
    assert joined == caption


def test_marks_are_built_as_nodes_not_markup(site_page: Page) -> None:
    html = site_page.evaluate(
        """() => import("/js/view.js").then((m) => {
            const box = document.createElement("p");
            box.append(m.captionNodes('<b onclick="x()">dog</b> & friends', "dog"));
            return box.innerHTML;
        })"""
    )
    assert html == '&lt;b onclick="x()"&gt;<mark>dog</mark>&lt;/b&gt; &amp; friends'
