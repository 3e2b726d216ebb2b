"""The published contract of the API (/api/openapi.json): parameters, bodies and responses.

The handlers parse requests themselves (request_input.py), so that every refusal is this API's own
400 with its own message rather than a generic validation error; these models and parameter lists
only describe what they accept and answer. The limits come from the running settings, so the schema
states the limits that are in force.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from core.images.base import IMAGE_EXTENSIONS
from core.vector_index import Strategy
from function_app.filters import MAX_FOLDER_CHARS, MAX_TAG_CHARS, MAX_TAGS, Sort
from function_app.planner import MAX_NPROBE
from function_app.request_input import MAX_IMAGE_ID_CHARS, SIMILAR_PARAMETERS
from function_app.settings import SearchSettings


class ErrorDetail(BaseModel):
    status: int = Field(description="the HTTP status again")
    message: str = Field(
        description="what was wrong and what is allowed", examples=["query must not be empty"]
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Tag(BaseModel):
    text: str = Field(description="a word or name for what the picture shows")
    confidence: float = Field(description="the classifier's probability for it, in (0, 1]")


class Hit(BaseModel):
    id: str
    name: str = Field(description="the image's name in its store")
    caption: str = Field(description="the captioner's best caption")
    alternatives: list[str] = Field(description="the captioner's other captions, best first")
    tags: list[Tag] = Field(
        description="what the image classifier sees in the picture, names before generic words"
    )
    text_in_picture: str = Field(
        description="the words read in the picture (the optional OCR stage), space-separated; '' when none"
    )
    score: float = Field(description="the blended score the results are ordered by")
    similarity: float = Field(description="query-image cosine (captions and tags), reduced space")
    text_match: bool = Field(description="whether a caption or tag shares a word with the query")
    url: str = Field(description="where the image can be fetched")
    taken: str | None = Field(
        default=None,
        description="when the picture was taken, ISO 8601: EXIF DateTimeOriginal, else the file's "
        "modification time (taken_from says which); null for images indexed before dates were stored",
    )
    taken_from: Literal["exif", "modified"] | None = Field(default=None, description="where taken came from")


class Timing(BaseModel):
    encode: float
    assign: float
    database: float
    total: float


class SearchResponse(BaseModel):
    query: str = Field(description="the query as searched: whitespace collapsed")
    k: int
    strategy: Strategy = Field(description="how the rows were ranked")
    nprobe: int | None = Field(description="clusters or lists probed (clusters, ivfflat), else null")
    bundle_version: str
    sort: Sort = Field(description="how the results are ordered (the sort parameter)")
    results: list[Hit] = Field(description="at most k, best first; fewer when nothing else matches well")
    timing_ms: Timing


class PictureResponse(SearchResponse):
    route: Literal["visual", "tags"] = Field(
        description="visual: the picture's pooled backbone features against each image's, by cosine; "
        "tags: its tags sentence searched as text (a bundle indexed before visual features)"
    )


class SimilarTiming(BaseModel):
    lookup: float = Field(description="reading the source image's stored vector")
    database: float = Field(description="ranking the others")
    total: float


class SimilarResponse(BaseModel):
    source: Hit = Field(description="the image asked about (score and similarity 1)")
    k: int
    strategy: Strategy = Field(description="how the rows were ranked")
    nprobe: int | None = Field(description="clusters or lists probed (clusters, ivfflat), else null")
    bundle_version: str
    results: list[Hit] = Field(
        description="k images, most similar first, the source excluded; score and similarity are the "
        "cosine of their caption embeddings with the source's, text_match is false"
    )
    timing_ms: SimilarTiming


class HealthGate(BaseModel):
    answer_margin: float = Field(
        description="answered when the best image beats its nearest nonsense probes' mean cosine by this"
    )
    min_similarity: float | None = Field(
        description="the floor under which weak images are dropped; null: none"
    )
    answer_quantile: float
    floor_quantile: float | None
    probes: int = Field(description="nonsense probe queries the calibration measured")
    rows: int = Field(description="rows they were measured against")


class HealthBundle(BaseModel):
    ok: bool
    version: str | None = None
    encoder: str | None = None
    dimensions: int | None = None
    clusters: int | None = None
    gate: HealthGate | None = Field(default=None, description="the answer gate calibrated for this bundle")
    error: str | None = Field(default=None, description="why no bundle is loaded")


class HealthDatabase(BaseModel):
    reachable: bool
    rows: int | None = None
    error: str | None = Field(default=None, description="why the database cannot be used")


class HealthSearch(BaseModel):
    configured: str
    in_use: str | None


class HealthResponse(BaseModel):
    status: str = Field(description='"ok", or "unavailable" with a 503', examples=["ok"])
    bundle: HealthBundle
    database: HealthDatabase
    search: HealthSearch | None = None


RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}
}


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description, **extra}


def search_responses(*, body: bool) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": SearchResponse, "description": "the ranked images"},
        400: _error("a malformed request; the message says what is allowed"),
        503: _error("no bundle, a broken bundle, or the database is down or too slow", headers=RETRY_AFTER),
    }
    if body:
        responses[408] = _error("the body did not arrive within the read timeout")
        responses[413] = _error("the body is over the size limit")
    return responses


def similar_responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": SimilarResponse, "description": "the images most like the given one"},
        400: _error("a malformed request; the message says what is allowed"),
        404: _error("no image with that id in the active index"),
        503: _error("no bundle, a broken bundle, or the database is down or too slow", headers=RETRY_AFTER),
    }


def similar_parameters(search: SearchSettings) -> list[dict[str, Any]]:
    """The query parameters of GET /api/similar: an image's id, and k and nprobe as for a search."""
    image_id = {
        "name": "id",
        "in": "query",
        "required": True,
        "description": "the id of an image in the index, as a search result gives it",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IMAGE_ID_CHARS},
    }
    shared = [p for p in search_parameters(search) if p["name"] in SIMILAR_PARAMETERS]
    return [image_id, *shared]


def health_responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": HealthResponse, "description": "bundle and database are ready"},
        503: {"model": HealthResponse, "description": "something is not ready; the report says what"},
    }


def image_responses() -> dict[int | str, dict[str, Any]]:
    types = sorted({"image/jpeg" if e in (".jpg", ".jpeg") else f"image/{e[1:]}" for e in IMAGE_EXTENSIONS})
    types.append("image/svg+xml")
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        200: {"description": "the image file", "content": {t: binary for t in types}},
        400: _error("a name that is not a relative path inside the images folder"),
        404: _error("no such image, or a name that is not an image file or is hidden"),
    }


def search_parameters(search: SearchSettings) -> list[dict[str, Any]]:
    """The query parameters of GET /api/search, with the limits in force."""
    return [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "description": "what the image shows, in words",
            "schema": {"type": "string", "minLength": 1, "maxLength": search.max_query_chars},
        },
        {
            "name": "k",
            "in": "query",
            "required": False,
            "description": "how many results at most",
            "schema": {"type": "integer", "minimum": 1, "maximum": search.max_k, "default": search.default_k},
        },
        {
            "name": "nprobe",
            "in": "query",
            "required": False,
            "description": "clusters or IVFFlat lists probed; the configured number when absent",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_NPROBE},
        },
        *FILTER_QUERY_PARAMETERS,
    ]


_WHEN = "an ISO 8601 date (the whole day, UTC) or date-time (UTC unless it has an offset)"
# The filters and sort (function_app/filters.py, docs/filters.md); the same in a JSON body.
FILTER_QUERY_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "taken_after",
        "in": "query",
        "required": False,
        "description": f"only pictures taken at or after this: {_WHEN}",
        "schema": {"type": "string", "examples": ["2024-05-31", "2024-05-31T18:30:00+02:00"]},
    },
    {
        "name": "taken_before",
        "in": "query",
        "required": False,
        "description": f"only pictures taken at or before this: {_WHEN}; not earlier than taken_after",
        "schema": {"type": "string", "examples": ["2024-06-30"]},
    },
    {
        "name": "folder",
        "in": "query",
        "required": False,
        "description": "only pictures in this folder or its subfolders (a name prefix up to a '/')",
        "schema": {"type": "string", "maxLength": MAX_FOLDER_CHARS},
    },
    {
        "name": "tag",
        "in": "query",
        "required": False,
        "explode": True,
        "description": "only pictures tagged with every one of these words (repeat it, or separate the "
        "words with commas) at the tag confidence chosen on validation",
        "schema": {
            "type": "array",
            "items": {"type": "string", "maxLength": MAX_TAG_CHARS},
            "maxItems": MAX_TAGS,
        },
    },
    {
        "name": "sort",
        "in": "query",
        "required": False,
        "description": "relevance (the default), or newest / oldest: the same k most relevant results "
        "ordered by when they were taken, those without a date last",
        "schema": {"type": "string", "enum": [s.value for s in Sort], "default": "relevance"},
    },
]


def search_body(search: SearchSettings) -> dict[str, Any]:
    """The JSON body of POST /api/search: the same three parameters."""
    properties = {
        p["name"]: {**p["schema"], "description": p["description"]} for p in search_parameters(search)
    }
    schema = {"type": "object", "properties": properties, "required": ["q"], "additionalProperties": False}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


PICTURE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")  # core.pictures


def picture_responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": PictureResponse, "description": "the ranked images; query is the picture's tags"},
        400: _error("an empty body, a body that is not a picture, a truncated picture or a bad k"),
        408: _error("the body did not arrive within the read timeout"),
        413: _error("the body is over the size limit, or the picture has too many pixels"),
        415: _error("no image Content-Type, or an SVG or other type that is not accepted"),
        503: _error("no bundle or one without a picture encoder, or no database", headers=RETRY_AFTER),
    }


def picture_request(search: SearchSettings, max_bytes: int) -> dict[str, Any]:
    """POST /api/search/image: the picture's bytes as the raw body (not multipart), k and nprobe."""
    binary = {"schema": {"type": "string", "format": "binary", "maxLength": max_bytes}}
    return {
        "parameters": [p for p in search_parameters(search) if p["name"] in ("k", "nprobe")],
        "requestBody": {
            "required": True,
            "description": f"the picture file itself, at most {max_bytes} bytes and 50,000,000 pixels",
            "content": {media: binary for media in PICTURE_TYPES},
        },
    }
