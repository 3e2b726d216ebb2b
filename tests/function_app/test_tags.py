"""Image tags at search time: stored with each row, matched in full text, returned with each result."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from function_app.api import create_api
from function_app.resources import build_service
from function_app.service import SearchService
from function_app.settings import Settings
from indexing.versions import CaptionedImage
from tests.conftest import index_corpus
from tests.function_app.conftest import make_settings

CORPUS = [
    CaptionedImage(
        "cat", "cat.png", "an animal on a sofa", "t", tags=(("tabby", 0.61), ("cat", 0.61), ("feline", 0.8))
    ),
    CaptionedImage("bike", "bike.png", "a red bicycle", "t", tags=(("mountain bike", 0.4),)),
    CaptionedImage("boat", "boat.png", "a small boat on a lake", "t"),  # no tags: its captions only
    CaptionedImage("car", "car.png", "an old car on a street", "t", tags=(("convertible", 0.3),)),
]


@pytest.fixture(scope="module")
def settings(pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    dsn, share, _ = index_corpus(
        pg_admin_dsn, encoder_dir, tmp_path_factory.mktemp("share"), CORPUS, pca_dim=3, clusters=2
    )
    return make_settings(dsn, share, tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def service(settings: Settings) -> SearchService:
    return build_service(settings)


def test_results_carry_their_tags_most_confident_first_as_stored(service: SearchService) -> None:
    hits = {hit.image_id: hit for hit in service.search("a cat on a sofa", 4).hits}
    assert hits["cat"].tags == (("tabby", 0.61), ("cat", 0.61), ("feline", 0.8))
    assert service.search("a small boat on a lake", 1).hits[0].tags == ()
    assert service.search("mountain bike", 1).hits[0].tags == (("mountain bike", 0.4),)


def test_a_tag_word_matches_in_full_text_though_no_caption_has_it(service: SearchService) -> None:
    result = service.search("tabby", 4)
    assert result.hits[0].image_id == "cat" and result.hits[0].text_match
    assert [hit.image_id for hit in result.hits if hit.text_match] == ["cat"]
    convertible = service.search("a convertible", 4).hits
    assert [hit.image_id for hit in convertible if hit.text_match] == ["car"]


def test_the_api_returns_tags_as_text_and_confidence_objects_as_its_schema_says(settings: Settings) -> None:
    client = TestClient(create_api(settings))
    body = client.get("/api/search", params={"q": "tabby", "k": 1}).json()
    assert body["results"][0]["tags"] == [
        {"text": "tabby", "confidence": 0.61},
        {"text": "cat", "confidence": 0.61},
        {"text": "feline", "confidence": 0.8},
    ]
    hit_schema = client.get("/api/openapi.json").json()["components"]["schemas"]["Hit"]
    assert "tags" in hit_schema["required"] and hit_schema["properties"]["tags"]["type"] == "array"
