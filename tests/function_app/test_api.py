from __future__ import annotations

import shutil
from pathlib import Path

import psycopg2
import pytest
from fastapi.testclient import TestClient

from core.bundle import current_version
from function_app.api import create_api
from indexing.versions import CaptionedImage
from tests.function_app.conftest import make_settings


def test_search_ranks_the_matching_caption_first(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "a dog running on a sandy beach", "k": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "a dog running on a sandy beach"
    assert len(body["results"]) == 5
    top = body["results"][0]
    assert top["caption"] == "a dog running on a sandy beach"
    assert top["score"] > 0.95
    assert top["url"] == f"http://testserver/images/{top['name']}"
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert set(body["timing_ms"]) == {"encode", "assign", "database", "total"}


def test_paraphrase_finds_the_right_kind_of_image(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "puppy on the seashore", "k": 3}).json()
    assert any("dog" in hit["caption"] and "beach" in hit["caption"] for hit in body["results"])


def test_post_json_gives_the_same_answer_as_get(client: TestClient) -> None:
    via_get = client.get("/api/search", params={"q": "a cat sleeping inside a kitchen", "k": 4}).json()
    via_post = client.post("/api/search", json={"q": "a cat sleeping inside a kitchen", "k": 4}).json()
    assert [h["id"] for h in via_get["results"]] == [h["id"] for h in via_post["results"]]


def test_small_indexes_are_searched_exactly_by_default(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "a boat"}).json()
    assert (body["strategy"], body["nprobe"]) == ("exact", None)


def test_larger_indexes_use_ivfflat_with_8_probes_by_default(
    indexed: tuple[str, Path, str], images_dir: Path
) -> None:
    dsn, share, _ = indexed
    settings = make_settings(dsn, share, images_dir, SEARCH_EXACT_BELOW="10", SEARCH_MIN_SIMILARITY="off")
    body = TestClient(create_api(settings)).get("/api/search", params={"q": "a boat"}).json()
    assert len(body["results"]) == 10
    assert (body["strategy"], body["nprobe"]) == ("ivfflat", 8)


def test_nprobe_sets_the_clusters_probed_by_cluster_routing(
    indexed: tuple[str, Path, str], images_dir: Path
) -> None:
    dsn, share, _ = indexed
    settings = make_settings(
        dsn,
        share,
        images_dir,
        SEARCH_STRATEGY="clusters",
        SEARCH_EXACT_BELOW="0",
        SEARCH_MIN_SIMILARITY="off",
    )
    routed = TestClient(create_api(settings))
    body = routed.get("/api/search", params={"q": "a boat", "nprobe": 2}).json()
    assert (body["strategy"], body["nprobe"]) == ("clusters", 2)
    assert len(body["results"]) == 10


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "missing query: pass it as q, e.g. /api/search?q=a+dog+on+a+beach"),
        ({"q": ""}, "query must not be empty"),
        ({"q": "   \t "}, "query must not be empty"),
        ({"q": "x" * 513}, "query is too long: 513 characters, the limit is 512"),
        ({"q": "dog", "k": "abc"}, "k must be an integer, got 'abc'"),
        ({"q": "dog", "k": "0"}, "k must be between 1 and 100, got 0"),
        ({"q": "dog", "k": "-3"}, "k must be between 1 and 100, got -3"),
        ({"q": "dog", "k": "101"}, "k must be between 1 and 100, got 101"),
        ({"q": "dog", "k": "2.5"}, "k must be an integer, got '2.5'"),
        ({"q": "dog", "nprobe": "0"}, "nprobe must be between 1 and 32768, got 0"),
        (
            {"q": "dog", "limit": "3"},
            "unknown parameter(s): limit; allowed: q, k, nprobe, taken_after, taken_before, folder, tag, "
            "sort",
        ),
    ],
)
def test_bad_query_parameters_get_a_400_with_a_message(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "message": message}}


def test_repeated_parameter_is_refused(client: TestClient) -> None:
    response = client.get("/api/search?q=dog&q=cat")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "parameter(s) given more than once: q"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "request body is empty"),
        (b"\xff\xfe{\x00", "request body is not valid UTF-8"),
        (b'{"q": "dog"', "request body is not valid JSON: Expecting ',' delimiter at line 1 column 12"),
        (b'["dog"]', "request body must be a JSON object"),
        (b'{"q": 5}', "q must be a string, got 5"),
        (b'{"q": "dog", "k": true}', "k must be an integer, got true"),
        (b'{"q": "dog", "k": "many"}', "k must be an integer, got 'many'"),
        (
            b'{"q": "dog", "order": "asc"}',
            "unknown parameter(s): order; allowed: q, k, nprobe, taken_after, taken_before, folder, tag, "
            "sort",
        ),
    ],
)
def test_bad_json_bodies_get_a_400_with_a_message(client: TestClient, body: bytes, message: str) -> None:
    response = client.post("/api/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


def test_huge_body_is_refused(client: TestClient) -> None:
    response = client.post("/api/search", content=b'{"q": "' + b"a" * 20_000 + b'"}')
    assert response.status_code == 413
    assert "request body is too large" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "query",
    ["'; DROP TABLE images; --", 'dog" OR 1=1 --', "%' OR '1'='1", "\\x00 \\' $$ ; SELECT pg_sleep(5)"],
)
def test_sql_metacharacters_are_just_text(
    client: TestClient, indexed: tuple[str, Path, str], corpus: list[CaptionedImage], query: str
) -> None:
    response = client.get("/api/search", params={"q": query, "k": 3})
    assert response.status_code == 200  # text spliced into the SQL would be a syntax error: a 500
    body = response.json()
    assert body["query"] == query  # searched as given, not escaped or cut
    assert body["timing_ms"]["database"] < 5000  # pg_sleep(5) did not run
    assert all(hit["caption"] in {image.caption for image in corpus} for hit in body["results"])
    conn = psycopg2.connect(indexed[0])
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM images WHERE bundle_version = %s", (indexed[2],))
        assert cur.fetchone()[0] == len(corpus)  # nothing dropped or deleted
    conn.close()


def test_health_reports_bundle_and_rows(
    client: TestClient, indexed: tuple[str, Path, str], corpus: list[CaptionedImage]
) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["bundle"]["version"] == indexed[2]
    assert body["bundle"]["encoder"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert body["database"] == {"reachable": True, "rows": len(corpus)}
    gate = body["bundle"]["gate"]  # calibrated when the bundle was published
    assert gate["probes"] > 0 and gate["rows"] == len(corpus) and -1 < gate["answer_margin"] < 1


def test_missing_bundle_is_a_503_and_health_says_why(
    fresh_dsn: str, tmp_path: Path, images_dir: Path
) -> None:
    client = TestClient(create_api(make_settings(fresh_dsn, tmp_path / "empty-share", images_dir)))
    response = client.get("/api/search", params={"q": "dog"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    message = response.json()["error"]["message"]
    assert message.startswith("the search index is not available: no search bundle at ")
    health = client.get("/api/health")
    assert health.status_code == 503
    assert "CURRENT is missing" in health.json()["bundle"]["error"]
    assert health.json()["database"]["reachable"] is True


def test_corrupt_bundle_is_a_503_naming_the_file(
    indexed: tuple[str, Path, str], tmp_path: Path, images_dir: Path
) -> None:
    dsn, share, version = indexed
    broken = tmp_path / "share"
    shutil.copytree(share, broken)
    (broken / "bundles" / version / "centroids.npy").write_bytes(b"garbage")
    client = TestClient(create_api(make_settings(dsn, broken, images_dir)))
    response = client.get("/api/search", params={"q": "dog"})
    assert response.status_code == 503
    assert f"bundle {version}: centroids.npy has 7 bytes" in response.json()["error"]["message"]


def test_index_with_zero_rows_answers_an_empty_list(
    indexed: tuple[str, Path, str], fresh_dsn: str, images_dir: Path
) -> None:
    _, share, _ = indexed
    client = TestClient(create_api(make_settings(fresh_dsn, share, images_dir)))
    response = client.get("/api/search", params={"q": "dog"})
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert client.get("/api/health").json()["database"]["rows"] == 0


def test_new_bundle_version_is_picked_up_without_restart(
    indexed: tuple[str, Path, str], tmp_path: Path, images_dir: Path, encoder_dir: Path
) -> None:
    from indexing.versions import build_index

    dsn, share, version = indexed
    own_share = tmp_path / "share"
    shutil.copytree(share, own_share)
    client = TestClient(create_api(make_settings(dsn, own_share, images_dir)))
    assert client.get("/api/search", params={"q": "dog"}).json()["bundle_version"] == version
    conn = psycopg2.connect(dsn)
    images = [
        CaptionedImage(f"new{i}", f"new/{i}.png", c)
        for i, c in enumerate(["a purple elephant", "a tiny robot"] * 5)
    ]
    newer = build_index(images, conn=conn, share=own_share, encoder_dir=encoder_dir, pca_dim=4, clusters=2)
    conn.close()
    assert current_version(own_share) == newer
    body = client.get("/api/search", params={"q": "an elephant", "k": 1}).json()
    assert body["bundle_version"] == newer
    assert body["results"][0]["caption"] == "a purple elephant"


def test_local_images_are_served_and_traversal_is_refused(client: TestClient) -> None:
    assert client.get("/images/photos/img0000.png").content.startswith(b"\x89PNG")
    assert client.get("/images/photos/missing.png").status_code == 404
    response = client.get("/images/..%2f..%2fetc/passwd")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "image name must not contain '..': '../../etc/passwd'"
    response = client.get("/images/%2fetc/passwd")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "image name must be relative: '/etc/passwd'"


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "message": "not found"}}
