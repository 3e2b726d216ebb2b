"""Filters and sort through the API and the service over a real index: each against a Python reference,
and every bad input refused with its exact message."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.database import ConnectionPool, make_connector
from core.images import LocalFolderStore
from core.vector_index import Strategy
from function_app.api import create_api
from function_app.bundles import BundleProvider
from function_app.filters import SearchFilters, Sort
from function_app.planner import PlanOptions
from function_app.ranking import RankingOptions
from function_app.service import SearchService
from indexing.versions import CaptionedImage
from tests.conftest import index_corpus
from tests.corpus import captions
from tests.function_app.conftest import make_settings

START = datetime(2023, 1, 1, tzinfo=UTC)
FOLDERS = ("2023/trip", "2023/trip-old", "home")


def _image(i: int, text: str) -> CaptionedImage:
    tags = (
        (("dog", 0.7),)
        if i % 4 == 0
        else (("dog", 0.03),)
        if i % 5 == 0
        else (("tabby", 0.65), ("cat", 0.65))
    )
    taken = None if i % 9 == 0 else START + timedelta(days=i)
    source = "" if taken is None else "exif" if i % 2 else "modified"
    return CaptionedImage(
        f"i{i:03d}", f"{FOLDERS[i % 3]}/{i}.jpg", text, "t", tags=tags, taken=taken, taken_from=source
    )


CORPUS = [_image(i, text) for i, text in enumerate(captions(100))]
BY_ID = {image.image_id: image for image in CORPUS}


@pytest.fixture(scope="module")
def index(pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    dsn, share, _ = index_corpus(
        pg_admin_dsn, encoder_dir, tmp_path_factory.mktemp("filters-share"), CORPUS, pca_dim=32, clusters=6
    )
    return dsn, share


@pytest.fixture(scope="module")
def service(index: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchService]:
    dsn, share = index
    folder = tmp_path_factory.mktemp("filters-images")
    pool = ConnectionPool(make_connector(dsn))
    settings = make_settings(dsn, share, folder)
    yield SearchService(
        BundleProvider(share, check_seconds=0),
        pool,
        LocalFolderStore(folder),
        settings.search,
        recheck_seconds=0,
    )
    pool.close()


@pytest.fixture(scope="module")
def filter_client(index: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    dsn, share = index
    return TestClient(create_api(make_settings(dsn, share, tmp_path_factory.mktemp("filters-api"))))


COSINE = RankingOptions(text_weight=0.0, min_similarity=None, answer_similarity=None)
QUERIES = ["a dog running on a sandy beach", "a cat sleeping on a sofa", "two horses under a bridge"]
CASES = {
    "folder": SearchFilters(folder="2023/trip"),
    "folder with slashes": SearchFilters(folder="home"),
    "tag": SearchFilters(tags=("dog",)),
    "two tags": SearchFilters(tags=("tabby", "cat")),
    "after": SearchFilters(taken_after=START + timedelta(days=60)),
    "between": SearchFilters(taken_after=START + timedelta(days=10), taken_before=START + timedelta(days=40)),
    "all": SearchFilters(folder="home", tags=("cat",), taken_before=START + timedelta(days=80)),
}


@pytest.mark.parametrize("strategy", [Strategy.EXACT, Strategy.IVFFLAT, Strategy.CLUSTERS])
@pytest.mark.parametrize("case", list(CASES))
def test_filtered_results_are_the_reference_filter_of_all_results(
    service: SearchService, case: str, strategy: Strategy
) -> None:
    filters = CASES[case]
    plan = PlanOptions(strategy=strategy, exact_below=0)
    exact = PlanOptions(strategy=Strategy.EXACT, exact_below=0)
    for query in QUERIES:
        everything = service.search(query, len(CORPUS), plan=exact, ranking=COSINE).hits
        kept = [
            h.image_id
            for h in everything
            if filters.keeps(h.name, BY_ID[h.image_id].taken, BY_ID[h.image_id].tags)
        ]
        found = service.search(query, 10, plan=plan, ranking=COSINE, filters=filters).hits
        assert [h.image_id for h in found] == kept[:10]
        assert len(found) > 0


def test_sort_reorders_the_same_results_by_date(service: SearchService) -> None:
    relevance = service.search("a dog on a beach", 30, ranking=COSINE).hits
    newest = service.search(
        "a dog on a beach", 30, ranking=COSINE, filters=SearchFilters(sort=Sort.NEWEST)
    ).hits
    oldest = service.search(
        "a dog on a beach", 30, ranking=COSINE, filters=SearchFilters(sort=Sort.OLDEST)
    ).hits
    assert {h.image_id for h in newest} == {h.image_id for h in oldest} == {h.image_id for h in relevance}
    dated = [h for h in relevance if BY_ID[h.image_id].taken is not None]
    undated = [h.image_id for h in relevance if BY_ID[h.image_id].taken is None]
    assert undated  # the reference below checks where they go
    by_date = sorted(dated, key=lambda h: BY_ID[h.image_id].taken)  # type: ignore[arg-type, return-value]
    assert [h.image_id for h in oldest] == [h.image_id for h in by_date] + undated
    assert [h.image_id for h in newest] == [h.image_id for h in reversed(by_date)] + undated
    assert all(h.taken == BY_ID[h.image_id].taken for h in newest)


def test_the_api_takes_filters_in_the_query_and_the_body(filter_client: TestClient) -> None:
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("q", "a dog on a beach"),
        ("k", "20"),
        ("tag", "Dog"),
        ("folder", "/2023/trip/"),
        ("sort", "newest"),
    ]
    body = filter_client.get("/api/search", params=params).json()
    assert body["sort"] == "newest" and body["results"]
    for hit in body["results"]:
        image = BY_ID[hit["id"]]
        assert hit["name"].startswith("2023/trip/") and image.image_id.startswith("i")
        assert ("dog", 0.7) in image.tags
        assert hit["taken"] == (image.taken.isoformat() if image.taken else None)
        assert hit["taken_from"] == (image.taken_from or None)
    dates = [hit["taken"] for hit in body["results"] if hit["taken"]]
    assert dates == sorted(dates, reverse=True)
    posted = filter_client.post(
        "/api/search",
        json={"q": "a dog on a beach", "k": 20, "tag": ["dog"], "folder": "2023/trip", "sort": "newest"},
    ).json()
    assert [h["id"] for h in posted["results"]] == [h["id"] for h in body["results"]]


def test_repeated_and_comma_separated_tags_are_the_same(filter_client: TestClient) -> None:
    one = filter_client.get("/api/search?q=a+cat&k=20&tag=tabby&tag=cat").json()["results"]
    two = filter_client.get("/api/search?q=a+cat&k=20&tag=tabby,%20cat").json()["results"]
    assert one and [h["id"] for h in one] == [h["id"] for h in two]


def test_dates_are_inclusive_whole_days(filter_client: TestClient) -> None:
    day = (START + timedelta(days=10)).date().isoformat()
    body = filter_client.get(f"/api/search?q=a+dog&k=50&taken_after={day}&taken_before={day}").json()
    assert [h["id"] for h in body["results"]] in ([], ["i010"])
    exact = filter_client.get(
        f"/api/search?q=a+dog&k=50&taken_after={day}T00:00:00Z&taken_before={day}T00:00:00Z"
    )
    assert [h["id"] for h in exact.json()["results"]] in ([], ["i010"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"taken_after": "yesterday"},
            "taken_after must be an ISO 8601 date or date-time such as 2024-05-31 or 2024-05-31T18:30:00Z, "
            "got 'yesterday'",
        ),
        ({"taken_before": "2024-02-30"}, "taken_before is not a valid date: '2024-02-30'"),
        ({"taken_before": "2024-05-31T25:00"}, "taken_before is not a valid date: '2024-05-31T25:00'"),
        (
            {"taken_after": "2024-06-01", "taken_before": "2024-05-01"},
            "taken_after (2024-06-01) is later than taken_before (2024-05-01)",
        ),
        ({"sort": "date"}, "sort must be one of relevance, newest, oldest, got 'date'"),
        ({"tag": ""}, "tag must not be empty"),
        ({"tag": "cat,,dog"}, "tag must not be empty"),
        ({"tag": ",".join(f"t{i}" for i in range(11))}, "too many tags: 11, the limit is 10"),
        ({"tag": "x" * 65}, "tag is too long: 65 characters, the limit is 64"),
        ({"folder": "a/" * 600}, "folder is too long: 1200 characters, the limit is 1024"),
        ({"folder": "a\x01b"}, "folder must not contain control characters: it contains U+0001"),
    ],
)
def test_bad_filters_get_a_400_with_a_message(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    response = client.get("/api/search", params={"q": "dog", **params})
    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "message": message}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"taken_after": 2024},
            "taken_after must be an ISO 8601 date or date-time such as 2024-05-31 or 2024-05-31T18:30:00Z, "
            "got 2024",
        ),
        ({"tag": [1, 2]}, "tag must be a string or a list of strings, got [1, 2]"),
        ({"folder": ["a"]}, 'folder must be a string, got ["a"]'),
        ({"sort": 1}, "sort must be one of relevance, newest, oldest, got 1"),
    ],
)
def test_bad_filters_in_a_body_get_a_400(client: TestClient, body: dict[str, object], message: str) -> None:
    response = client.post("/api/search", json={"q": "dog", **body})
    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "message": message}}


def test_tags_may_repeat_but_other_filters_not(client: TestClient) -> None:
    assert client.get("/api/search?q=dog&tag=a&tag=b").status_code == 200
    response = client.get("/api/search?q=dog&sort=newest&sort=oldest")
    assert response.json()["error"]["message"] == "parameter(s) given more than once: sort"


def test_the_schema_describes_the_filters(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    names = [p["name"] for p in schema["paths"]["/api/search"]["get"]["parameters"]]
    assert names[-5:] == ["taken_after", "taken_before", "folder", "tag", "sort"]
    hit = schema["components"]["schemas"]["Hit"]["properties"]
    assert {"taken", "taken_from"} <= set(hit)
