"""POST /api/search/image: a picture in, ranked images out; every bad upload gets its exact 4xx."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from core.bundle import load_bundle
from function_app.api import create_api
from tests.conftest import ENCODER_CACHE, PROJECT_ROOT
from tests.core.test_pictures import png_header_only
from tests.function_app.conftest import make_settings
from tests.indexing.tagging.lite0 import write_lite0_checkpoint
from tests.pictures import picture_share
from training.synthetic import make_shapes

URL = "/api/search/image"
TYPES = "image/png, image/jpeg, image/gif, image/webp, image/bmp"


@pytest.fixture(scope="module")
def picture_client(
    indexed: tuple[str, Path, str], images_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> TestClient:
    """The session's index, served from a share whose bundle (same version) also has a picture encoder."""
    dsn, share, version = indexed
    picture = picture_share(share, version, tmp_path_factory.mktemp("picture-share"))
    return TestClient(create_api(make_settings(dsn, picture, images_dir)))


@pytest.fixture(scope="module")
def shape_png(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("shapes")
    return (folder / make_shapes(folder, 1)[0]).read_bytes()


def jpeg(size: tuple[int, int] = (256, 256)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_a_picture_finds_images_and_says_how_it_was_read(
    picture_client: TestClient, shape_png: bytes
) -> None:
    response = picture_client.post(f"{URL}?k=5", content=shape_png, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["k"] == 5 and 1 <= len(body["results"]) <= 5
    assert body["query"]  # the picture's tags, as the text encoder read them
    assert body["route"] == "tags"  # the session's bundle was fitted without visual features
    assert set(body["results"][0]) >= {"id", "caption", "tags", "score", "similarity", "url"}
    scores = [hit["similarity"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)  # cosine alone orders a picture's results
    assert {"decode", "picture", "encode", "database", "total"} <= set(body["timing_ms"])


def test_the_same_picture_as_jpeg_with_parameters_in_the_content_type(picture_client: TestClient) -> None:
    response = picture_client.post(
        URL, content=jpeg(), headers={"Content-Type": "image/jpeg; charset=binary"}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) <= 10


TRUNCATED = jpeg()[:3000]


@pytest.mark.parametrize(
    ("query", "content_type", "body", "status", "message"),
    [
        (
            "",
            None,
            b"\x89PNG",
            415,
            f"send the picture as the request body with an image Content-Type ({TYPES}); got none",
        ),
        (
            "",
            "application/json",
            b"{}",
            415,
            f"send the picture as the request body with an image Content-Type ({TYPES}); "
            "got 'application/json'",
        ),
        (
            "",
            "image/svg+xml",
            b"<svg/>",
            415,
            "SVG pictures are not accepted: send a PNG, JPEG, GIF, WebP or BMP image",
        ),
        (
            "",
            "image/png",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            415,
            "SVG pictures are not accepted: send a PNG, JPEG, GIF, WebP or BMP image",
        ),
        ("", "image/png", b"", 400, "the picture is empty: send the image's bytes as the request body"),
        (
            "",
            "image/png",
            b"GIF89a nonsense",
            400,
            "the body is not a picture: send a PNG, JPEG, GIF, WebP or BMP image",
        ),
        (
            "",
            "image/png",
            png_header_only(8000, 8000),
            413,
            "the picture has too many pixels: 8000x8000; the limit is 50,000,000",
        ),
        (
            "",
            "image/png",
            png_header_only(100_000, 100_000),
            413,
            "the picture has too many pixels; the limit is 50,000,000",
        ),
        (
            "",
            "image/png",
            b"x" * (8 * 1024 * 1024 + 1),
            413,
            "request body is too large: 8388609 bytes, the limit is 8388608",
        ),
        ("?k=0", "image/png", b"x", 400, "k must be between 1 and 100, got 0"),
        ("?k=ten", "image/png", b"x", 400, "k must be an integer, got 'ten'"),
        ("?q=cat", "image/png", b"x", 400, "unknown parameter(s): q; allowed: k, nprobe"),
        ("?k=1&k=2", "image/png", b"x", 400, "parameter(s) given more than once: k"),
    ],
    ids=[
        "no-type",
        "json",
        "svg-type",
        "svg-bytes",
        "empty",
        "not-a-picture",
        "bomb",
        "huge-bomb",
        "over-8MiB",
        "k-zero",
        "k-word",
        "unknown-parameter",
        "repeated-parameter",
    ],
)
def test_bad_uploads_get_their_exact_message(
    picture_client: TestClient, query: str, content_type: str | None, body: bytes, status: int, message: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = picture_client.post(URL + query, content=body, headers=headers)
    assert (response.status_code, response.json()) == (
        status,
        {"error": {"status": status, "message": message}},
    )


def test_a_truncated_picture_is_a_400(picture_client: TestClient) -> None:
    response = picture_client.post(URL, content=TRUNCATED, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("the picture is truncated or corrupt: ")


def test_only_the_picture_route_takes_large_bodies(picture_client: TestClient) -> None:
    response = picture_client.post("/api/search", content=json.dumps({"q": "a" * 20_000}))
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "request body is too large: 20009 bytes, the limit is 16384"


def test_a_bundle_without_a_picture_encoder_is_a_503(client: TestClient, shape_png: bytes) -> None:
    response = client.post(URL, content=shape_png, headers={"Content-Type": "image/png"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "search by picture is not available" in response.json()["error"]["message"]
    assert "was published without a picture encoder" in response.json()["error"]["message"]


def test_the_contract_describes_the_route(picture_client: TestClient) -> None:
    operation = picture_client.get("/api/openapi.json").json()["paths"][URL]["post"]
    assert set(operation["requestBody"]["content"]) == set(TYPES.split(", "))
    assert [p["name"] for p in operation["parameters"]] == ["k", "nprobe"]
    assert {"400", "413", "415", "503"} <= set(operation["responses"])


def test_an_index_run_publishes_the_picture_encoder_and_the_api_reads_pictures(
    fresh_dsn: str, tmp_path: Path, shape_png: bytes
) -> None:
    """The whole path: `indexing.cli index` with an EfficientNet-Lite0 captioner ships picture/ and the
    visual PCA in the bundle it publishes, and the API searches that index by picture's visual route: an
    indexed picture finds itself first, and so does one added by a later (incremental) run."""
    images = tmp_path / "images"
    images.mkdir()
    make_shapes(images, 6)
    checkpoint = write_lite0_checkpoint(tmp_path / "lite0.pt")
    env = {
        **os.environ,
        "DATABASE_URL": fresh_dsn,
        "MODEL_SHARE_PATH": str(tmp_path / "share"),
        "IMAGE_STORE": "folder",
        "IMAGES_DIR": str(images),
        "CAPTIONER_CHECKPOINT": str(checkpoint),
        "ENCODER_DIR": str(ENCODER_CACHE / "minilm-onnx"),
        "INDEX_LOG_DIR": str(tmp_path / "logs"),
        "INDEX_WORKERS": "1",
        "INDEX_MAX_LENGTH": "6",
        "INDEX_THREADS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "indexing.cli",
        "index",
        "--no-progress",
        "--pca-dim",
        "4",
        "--clusters",
        "2",
    ]
    subprocess.run(command, env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=600)
    late = tmp_path / "late"
    added = make_shapes(late, 1, seed=5, start=6)[0]  # a picture the first run did not see

    bundle = load_bundle(tmp_path / "share")
    assert bundle.visual_components is not None and bundle.visual_components.shape[1] == 1280
    assert bundle.picture_dir is not None and (bundle.picture_dir / "model.onnx").is_file()
    assert bundle.manifest["picture"]["backbone"] == "efficientnet_lite0"
    client = TestClient(create_api(make_settings(fresh_dsn, tmp_path / "share", images)))
    response = client.post(URL, content=shape_png, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert {hit["name"] for hit in response.json()["results"]} <= {p.name for p in images.iterdir()}
    for name in sorted(p.name for p in images.iterdir())[:2]:
        body = client.post(
            URL, content=(images / name).read_bytes(), headers={"Content-Type": "image/png"}
        ).json()
        assert (body["route"], body["strategy"], body["results"][0]["name"]) == ("visual", "exact", name)
        assert body["results"][0]["similarity"] > 0.999  # its own pooled features, through ONNX
    # Publishing built the visual HNSW index; a version past exact_below (here 0: any) is searched with it.
    ann = TestClient(create_api(make_settings(fresh_dsn, tmp_path / "share", images, SEARCH_EXACT_BELOW="0")))
    body = ann.post(URL, content=(images / name).read_bytes(), headers={"Content-Type": "image/png"}).json()
    assert (body["route"], body["strategy"], body["results"][0]["name"]) == ("visual", "hnsw", name)

    (images / added).write_bytes((late / added).read_bytes())
    subprocess.run(
        [*command[:4], "--no-progress"],
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert load_bundle(tmp_path / "share").version == bundle.version  # rows added to the active version
    body = client.post(
        URL, content=(images / added).read_bytes(), headers={"Content-Type": "image/png"}
    ).json()
    assert (body["route"], body["results"][0]["name"]) == ("visual", added)
