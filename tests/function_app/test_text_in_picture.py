"""Text read in pictures at search time: stored with each row, matched in full text, returned per hit."""

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
    CaptionedImage("sign", "sign.png", "a green board on a wall", "t", text_in_picture="BAKERY Fresh"),
    CaptionedImage("cat", "cat.png", "an animal on a sofa", "t", tags=(("tabby", 0.6),)),
    CaptionedImage("boat", "boat.png", "a small boat on a lake", "t"),
    CaptionedImage("car", "car.png", "an old car on a street", "t", text_in_picture="TAXI"),
]


@pytest.fixture(scope="module")
def indexed(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Settings]:
    dsn, share, _ = index_corpus(
        pg_admin_dsn, encoder_dir, tmp_path_factory.mktemp("share"), CORPUS, pca_dim=3, clusters=2
    )
    return dsn, make_settings(dsn, share, tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def service(indexed: tuple[str, Settings]) -> SearchService:
    return build_service(indexed[1])


def test_a_word_read_in_the_picture_matches_in_full_text_though_no_caption_has_it(
    service: SearchService,
) -> None:
    result = service.search("bakery", 4)
    assert [hit.image_id for hit in result.hits if hit.text_match] == ["sign"]
    assert {hit.image_id: hit.text_in_picture for hit in result.hits} == {
        "sign": "BAKERY Fresh",
        "cat": "",
        "boat": "",
        "car": "TAXI",
    }


def test_the_api_returns_text_in_picture_as_its_schema_says(indexed: tuple[str, Settings]) -> None:
    client = TestClient(create_api(indexed[1]))
    body = client.get("/api/search", params={"q": "taxi", "k": 1}).json()
    assert body["results"][0]["id"] == "car" and body["results"][0]["text_in_picture"] == "TAXI"
    hit_schema = client.get("/api/openapi.json").json()["components"]["schemas"]["Hit"]
    assert "text_in_picture" in hit_schema["required"]
    assert hit_schema["properties"]["text_in_picture"]["type"] == "string"
