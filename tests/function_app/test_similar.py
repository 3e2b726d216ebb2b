"""More like this (GET /api/similar): an image's neighbours by its own stored vector, over a real index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg2
import pytest
from fastapi.testclient import TestClient

from core.database import ConnectionPool, make_connector, start_embedded_postgres, stop_embedded_postgres
from core.images import LocalFolderStore
from core.vector_index import Strategy, create_vector_index, drop_vector_indexes
from function_app.api import create_api
from function_app.bundles import BundleProvider
from function_app.errors import NotFound
from function_app.index_reader import IndexedImage
from function_app.planner import PlanOptions
from function_app.service import SearchService
from function_app.similar import nearest_others
from indexing.versions import CaptionedImage, build_index
from tests.conftest import index_corpus
from tests.corpus import captions
from tests.function_app.conftest import make_settings

SOURCES = ["c0", "c77", "c250", "c431"]


@pytest.fixture(scope="module")
def every_index(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, str]:
    """The test corpus (with its IVFFlat index), and one row of an older version that is not searched."""
    corpus = [CaptionedImage(f"c{i}", f"c/{i}.png", text) for i, text in enumerate(captions())]
    share = tmp_path_factory.mktemp("similar-share")
    dsn, share, version = index_corpus(pg_admin_dsn, encoder_dir, share, corpus, pca_dim=64, clusters=20)
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO images (bundle_version, image_id, name, caption, embedding, cluster_id) "
            "SELECT 'an-older-version', 'old-only', name, caption, embedding, cluster_id FROM images "
            "WHERE bundle_version = %s AND image_id = 'c0'",
            (version,),
        )
    conn.commit()
    conn.close()
    return dsn, share, version


def only_ann_index(dsn: str, version: str, method: str) -> None:
    """Make ``method`` the version's one ANN index: beside an IVFFlat index, pgvector 0.8's planner may
    walk that one (at one probe) for an HNSW search once statistics exist (see test_strategies.py)."""
    conn = psycopg2.connect(dsn)
    drop_vector_indexes(conn, version)
    create_vector_index(conn, version, 64, method, lists=20)
    conn.commit()
    conn.close()


@pytest.fixture
def hnsw_instead(every_index: tuple[str, Path, str]) -> Iterator[None]:
    """For one test, an HNSW index in place of the IVFFlat one."""
    dsn, _, version = every_index
    only_ann_index(dsn, version, "hnsw")
    yield
    only_ann_index(dsn, version, "ivfflat")


def stored_vectors(dsn: str, version: str) -> tuple[list[str], np.ndarray]:
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT image_id, embedding::text FROM images WHERE bundle_version = %s ORDER BY image_id",
            (version,),
        )
        rows = cur.fetchall()
    conn.close()
    vectors = np.array([np.array(text.strip("[]").split(","), dtype=np.float64) for _, text in rows])
    return [image_id for image_id, _ in rows], vectors  # (N, d)


def exact_order(ids: list[str], vectors: np.ndarray, source: str) -> list[tuple[str, float]]:
    """Every other image by cosine with ``source``, computed here from the stored vectors."""
    index = ids.index(source)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = unit @ unit[index]
    ranked = sorted((-cosines[i], ids[i]) for i in range(len(ids)) if i != index)
    return [(image_id, -negative) for negative, image_id in ranked]


@pytest.fixture(scope="module")
def service(every_index: tuple[str, Path, str], tmp_path_factory: pytest.TempPathFactory) -> SearchService:
    dsn, share, _ = every_index
    folder = tmp_path_factory.mktemp("similar-images")
    settings = make_settings(dsn, share, folder)
    bundles, pool = BundleProvider(share, check_seconds=0), ConnectionPool(make_connector(dsn))
    return SearchService(bundles, pool, LocalFolderStore(folder), settings.search)


@pytest.mark.parametrize("source", SOURCES)
def test_exact_order_is_the_cosine_order_of_the_stored_vectors(
    service: SearchService, every_index: tuple[str, Path, str], source: str
) -> None:
    dsn, _, version = every_index
    ids, vectors = stored_vectors(dsn, version)
    expected = exact_order(ids, vectors, source)[:25]
    result = service.similar(source, 25, plan=PlanOptions(Strategy.EXACT))
    assert result.strategy is Strategy.EXACT
    assert result.source.image_id == source
    assert [hit.image_id for hit in result.hits] == [image_id for image_id, _ in expected]
    assert [hit.similarity for hit in result.hits] == pytest.approx([c for _, c in expected], abs=1e-4)
    assert all(hit.score == hit.similarity and not hit.text_match for hit in result.hits)


@pytest.mark.parametrize("strategy", ["hnsw", "ivfflat", "clusters", "exact"])
def test_every_strategy_excludes_the_image_and_agrees_with_exact_search(
    every_index: tuple[str, Path, str], tmp_path: Path, strategy: str, request: pytest.FixtureRequest
) -> None:
    if strategy == "hnsw":
        request.getfixturevalue("hnsw_instead")
    dsn, share, version = every_index
    ids, vectors = stored_vectors(dsn, version)
    client = TestClient(
        create_api(make_settings(dsn, share, tmp_path, SEARCH_STRATEGY=strategy, SEARCH_EXACT_BELOW="0"))
    )
    overlap = []
    for source in SOURCES:
        body = client.get("/api/similar", params={"id": source, "k": 10}).json()
        assert body["strategy"] == strategy
        assert (body["nprobe"] is not None) == (strategy in ("clusters", "ivfflat"))
        found = [hit["id"] for hit in body["results"]]
        assert len(found) == len(set(found)) == 10
        assert source not in found
        similarities = [hit["similarity"] for hit in body["results"]]
        assert similarities == sorted(similarities, reverse=True)
        exact = {image_id for image_id, _ in exact_order(ids, vectors, source)[:10]}
        overlap.append(len(exact & set(found)) / 10)
    assert sum(overlap) / len(overlap) >= (1.0 if strategy == "exact" else 0.8)


def test_the_answer_has_the_shape_of_a_search_plus_the_source(client: TestClient) -> None:
    searched = client.get("/api/search", params={"q": "a dog running on a sandy beach", "k": 1}).json()
    source = searched["results"][0]
    response = client.get("/api/similar", params={"id": source["id"], "k": 5})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"source", "k", "strategy", "nprobe", "bundle_version", "results", "timing_ms"}
    assert body["source"] | {"score": None, "similarity": None, "text_match": None} == source | {
        "score": None,
        "similarity": None,
        "text_match": None,
    }
    assert (body["source"]["score"], body["source"]["similarity"]) == (1.0, 1.0)
    assert body["k"] == 5 and len(body["results"]) == 5
    assert body["bundle_version"] == searched["bundle_version"]
    assert {tuple(sorted(hit)) for hit in body["results"]} == {tuple(sorted(source))}
    assert all(hit["url"] == f"http://testserver/images/{hit['name']}" for hit in body["results"])
    assert set(body["timing_ms"]) == {"lookup", "database", "total"}
    # The neighbours of a dog on a beach: its captions share most of their words with it.
    assert any("dog" in hit["caption"] or "beach" in hit["caption"] for hit in body["results"][:3])


def test_k_defaults_to_the_search_default(client: TestClient) -> None:
    assert len(client.get("/api/similar", params={"id": "img0005"}).json()["results"]) == 10


def test_head_answers_as_get_without_a_body(client: TestClient) -> None:
    ok = client.head("/api/similar", params={"id": "img0005"})
    assert (ok.status_code, ok.content) == (200, b"")
    missing = client.head("/api/similar", params={"id": "nope"})
    assert (missing.status_code, missing.content) == (404, b"")


@pytest.mark.parametrize("image_id", ["nope", "img0005 ", "IMG0005", "'; DROP TABLE images; --"])
def test_an_unknown_id_is_a_404_with_a_message(client: TestClient, image_id: str) -> None:
    response = client.get("/api/similar", params={"id": image_id})
    assert response.status_code == 404
    message = f"no image with id {image_id!r} in the index"
    assert response.json() == {"error": {"status": 404, "message": message}}


def test_an_image_of_another_version_only_is_not_found(service: SearchService) -> None:
    with pytest.raises(NotFound, match="no image with id 'old-only' in the index"):
        service.similar("old-only", 5)
    assert "old-only" not in {hit.image_id for hit in service.similar("c0", 100).hits}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "missing image id: pass a result's id as id, e.g. /api/similar?id=3f2a…&k=10"),
        ("id=", "missing image id: pass a result's id as id, e.g. /api/similar?id=3f2a…&k=10"),
        ("k=5", "missing image id: pass a result's id as id, e.g. /api/similar?id=3f2a…&k=10"),
        ("id=" + "a" * 129, "image id is too long: 129 characters, the limit is 128"),
        ("id=img%000005", "image id must not contain control characters: it contains U+0000"),
        ("id=img0005%0A", "image id must not contain control characters: it contains U+000A"),
        ("id=img%1B0005", "image id must not contain control characters: it contains U+001B"),
        ("id=img0005&k=abc", "k must be an integer, got 'abc'"),
        ("id=img0005&k=0", "k must be between 1 and 100, got 0"),
        ("id=img0005&k=101", "k must be between 1 and 100, got 101"),
        ("id=img0005&nprobe=0", "nprobe must be between 1 and 32768, got 0"),
        ("id=img0005&q=dog", "unknown parameter(s): q; allowed: id, k, nprobe"),
        ("id=img0005&id=img0006", "parameter(s) given more than once: id"),
    ],
)
def test_bad_parameters_are_a_400_with_a_message(client: TestClient, query: str, message: str) -> None:
    response = client.get("/api/similar?" + query)
    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "message": message}}


def test_only_get_and_head_are_allowed(client: TestClient) -> None:
    response = client.post("/api/similar", json={"id": "img0005"})
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"


def test_the_schema_describes_the_route(client: TestClient) -> None:
    route = client.get("/api/openapi.json").json()["paths"]["/api/similar"]["get"]
    assert [p["name"] for p in route["parameters"]] == ["id", "k", "nprobe"]
    assert route["parameters"][0]["schema"]["maxLength"] == 128
    assert set(route["responses"]) == {"200", "400", "404", "503"}


def test_nearest_others_drops_the_source_breaks_ties_by_id_and_cuts_to_k() -> None:
    rows = [
        IndexedImage("b", "b.png", "", (), 0.5),
        IndexedImage("src", "s.png", "", (), 1.0),
        IndexedImage("a", "a.png", "", (), 0.5),
        IndexedImage("c", "c.png", "", (), 0.9),
    ]
    assert [row.image_id for row in nearest_others(rows, "src", 2)] == ["c", "a"]
    assert [row.image_id for row in nearest_others(rows, "src", 10)] == ["c", "a", "b"]


def test_database_down_is_a_503_with_retry_after(own_server: Path, tmp_path: Path, encoder_dir: Path) -> None:
    dsn = start_embedded_postgres(own_server)
    conn = psycopg2.connect(dsn)
    images = [CaptionedImage(f"i{i}", f"{i}.png", t) for i, t in enumerate(["a red car", "a blue boat"] * 4)]
    build_index(images, conn=conn, share=tmp_path, encoder_dir=encoder_dir, pca_dim=4, clusters=2)
    conn.close()
    client = TestClient(create_api(make_settings(dsn, tmp_path, tmp_path)))
    assert client.get("/api/similar", params={"id": "i0", "k": 3}).status_code == 200

    stop_embedded_postgres(own_server)
    down = client.get("/api/similar", params={"id": "i0", "k": 3})
    assert down.status_code == 503
    assert down.headers["Retry-After"] == "5"
    assert down.json()["error"]["message"].startswith("the search database is unavailable: ")

    assert start_embedded_postgres(own_server) == dsn
    up = client.get("/api/similar", params={"id": "i0", "k": 3}).json()
    assert [hit["caption"] for hit in up["results"]] == ["a red car"] * 3
