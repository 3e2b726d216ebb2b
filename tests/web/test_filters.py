"""The filter bar against the real API: dates, folder and tag chips and the sort, kept in the address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from indexing.versions import CaptionedImage
from tests.conftest import index_corpus
from tests.web.corpus import CORPUS, write_thumbnails
from tests.web.real_site import real_search_site

START = datetime(2024, 1, 1, tzinfo=UTC)


def _taken(i: int) -> datetime:
    return START + timedelta(days=3 * i)


@pytest.fixture(scope="module")
def dated_site(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The browser tests' drawings, each dated (3 days apart, in corpus order) and tagged with its label."""
    images = tmp_path_factory.mktemp("dated-images")
    write_thumbnails(images)
    corpus = [
        CaptionedImage(
            f"img-{i}",
            name,
            caption,
            tags=((label, 0.9),),
            taken=_taken(i),
            taken_from="exif" if i % 2 else "modified",
        )
        for i, (name, caption, _, label) in enumerate(CORPUS)
    ]
    dsn, share, _ = index_corpus(pg_admin_dsn, encoder_dir, tmp_path_factory.mktemp("dated-share"), corpus)
    with real_search_site(dsn, share, images, extra_env={"SEARCH_MIN_SIMILARITY": "off"}) as url:
        yield url


@pytest.fixture
def calls(page: Page) -> list[dict[str, list[str]]]:
    """Every /api/search request's parameters, repeated ones included."""
    seen: list[dict[str, list[str]]] = []

    def record(request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.path.endswith("/api/search"):
            seen.append(parse_qs(parts.query))

    page.on("request", record)
    return seen


def _names(page: Page) -> list[str]:
    return [
        src.split("/images/", 1)[1]
        for src in page.locator(".result img").evaluate_all("els => els.map(e => e.src)")
    ]


def test_a_shared_link_sets_the_controls_and_the_search(page: Page, dated_site: str, calls: list) -> None:
    page.goto(f"{dated_site}/?q=a+dog&folder=dogs&tag=dog&sort=newest&taken_after=2024-01-01")
    expect(page.locator(".result").first).to_be_visible()
    assert page.locator('[data-filter="sort"]').input_value() == "newest"
    assert page.locator('[data-filter="after"]').input_value() == "2024-01-01"
    chips = page.locator(".filter-chip")
    expect(chips).to_have_text(["folder: dogs×", "tag: dog×"])
    assert calls[-1]["folder"] == ["dogs"] and calls[-1]["tag"] == ["dog"] and calls[-1]["sort"] == ["newest"]
    names = _names(page)
    assert names and all(name.startswith("dogs/") for name in names)
    dates = page.locator(".result-taken time").evaluate_all("els => els.map(e => e.dateTime)")
    assert len(dates) == len(names) and dates == sorted(dates, reverse=True)
    expect(page.locator(".result-taken").first).to_contain_text(re.compile(r"^(taken|file date) "))


def test_controls_change_the_address_and_search_again(page: Page, dated_site: str, calls: list) -> None:
    page.goto(dated_site)
    page.fill("#q", "an animal")
    page.press("#q", "Enter")
    expect(page.locator(".result").first).to_be_visible()

    page.select_option('[data-filter="sort"]', "oldest")
    expect(page).to_have_url(re.compile(r"sort=oldest"))
    page.fill('[data-filter="tag"]', "Horse")
    page.press('[data-filter="tag"]', "Enter")
    expect(page.locator(".filter-chip")).to_have_text(["tag: horse×"])
    expect(page).to_have_url(re.compile(r"tag=horse"))
    expect(page.locator(".result")).to_have_count(1)
    assert _names(page) == ["animals/horse.svg"]
    assert (
        calls[-1]["tag"] == ["horse"] and calls[-1]["sort"] == ["oldest"] and calls[-1]["q"] == ["an animal"]
    )

    page.get_by_role("button", name="Remove tag horse").click()
    expect(page.locator(".filter-chip")).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"tag="))
    expect(page.locator(".result")).not_to_have_count(1)

    page.fill('[data-filter="folder"]', "/animals/")
    page.press('[data-filter="folder"]', "Enter")
    expect(page.locator(".filter-chip")).to_have_text(["folder: animals×"])
    expect(page).to_have_url(re.compile(r"folder=animals"))
    expect(page.locator(".result")).to_have_count(4)
    dates = page.locator(".result-taken time").evaluate_all("els => els.map(e => e.dateTime)")
    assert dates == sorted(dates)

    page.go_back()  # before the folder: the address leads, the chips and the list follow
    expect(page.locator(".filter-chip")).to_have_count(0)
    expect(page.locator(".result")).not_to_have_count(4)


def test_a_date_range_narrows_and_a_reversed_one_says_why(page: Page, dated_site: str) -> None:
    first, last = _taken(0).date().isoformat(), _taken(4).date().isoformat()
    page.goto(f"{dated_site}/?q=a+dog&taken_after={first}&taken_before={last}")
    expect(page.locator(".result")).to_have_count(5)  # days 0..12: the first five drawings, both ends in
    assert sorted(_names(page)) == sorted(name for name, *_ in CORPUS[:5])

    page.fill('[data-filter="after"]', "2025-01-01")
    page.locator('[data-filter="after"]').dispatch_event("change")
    expect(page.locator("#error-message")).to_have_text(
        f"taken_after (2025-01-01) is later than taken_before ({last})"
    )
    expect(page).to_have_url(re.compile(r"taken_after=2025-01-01"))
