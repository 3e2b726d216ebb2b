"""The HTTP API (FastAPI). It parses and validates requests, calls the search service and maps errors.

The same app runs under uvicorn locally and inside the Azure Function (search_function.py).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.images.base import IMAGE_EXTENSIONS
from core.pictures import PictureError
from core.settings import PROJECT_ROOT
from function_app import openapi
from function_app.errors import InvalidRequest, NotFound, ServiceUnavailable
from function_app.filters import parse_filters
from function_app.middleware import BodyLimit, HeadAsGet, SecurityHeaders, UnexpectedErrors
from function_app.picture_query import MAX_PICTURE_BYTES, check_content_type
from function_app.planner import MAX_NPROBE
from function_app.request_input import (
    SIMILAR_PARAMETERS,
    check_parameters,
    check_query_text,
    parse_image_id,
    parse_int,
    parse_json_body,
)
from function_app.service import SearchResult, SearchService, SimilarResult
from function_app.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
BODY_READ_SECONDS = 10.0  # a body (at most 16 KiB) that takes longer is a slow client: 408
PICTURE_PATH = "/api/search/image"
PICTURE_READ_SECONDS = 60.0  # 8 MiB in a minute: a phone on a slow uplink still gets through
MAX_NAME_PART_BYTES = 255  # a file name component on Linux, and on Azure Files
RETRY_AFTER_SECONDS = 5
WEB_DIR = PROJECT_ROOT / "web"

# An absolute path at the start, or after a space, quote, '(' or '=': the share, the database socket.
_ABSOLUTE_PATH = re.compile(r"(?<![^\s\"'(=])/[^\s\"'()<>,;:]+")


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    # A lone surrogate (from a JSON body) cannot be encoded as UTF-8: show it escaped.
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse(
        {"error": {"status": status, "message": message}}, status_code=status, headers=headers
    )


def redact_paths(text: str) -> str:
    """``text`` with each absolute path cut to its last part: a client learns which file, not where."""
    return _ABSOLUTE_PATH.sub(lambda m: "…/" + m.group().rstrip("/").rsplit("/", 1)[-1], text)


def _result_json(result: SearchResult, base_url: str) -> dict[str, Any]:
    return {
        "query": result.query,
        "k": result.k,
        "strategy": result.strategy.value,
        "nprobe": result.nprobe,
        "bundle_version": result.bundle_version,
        "sort": result.sort.value,
        "results": [
            {
                "id": hit.image_id,
                "name": hit.name,
                "caption": hit.caption,
                "alternatives": list(hit.alternatives),
                "tags": [{"text": text, "confidence": confidence} for text, confidence in hit.tags],
                "taken": hit.taken.isoformat() if hit.taken else None,
                "taken_from": hit.taken_from or None,
                "text_in_picture": hit.text_in_picture,
                "score": hit.score,
                "similarity": hit.similarity,
                "text_match": hit.text_match,
                "url": base_url + hit.url if hit.url.startswith("/") else hit.url,
            }
            for hit in result.hits
        ],
        "timing_ms": result.timing_ms,
    }


def _similar_json(result: SimilarResult, base_url: str) -> dict[str, Any]:
    """A search's answer (hits of the same shape) with the ``source`` image, without query or sort."""
    hits = [result.source, *result.hits]
    shaped = SearchResult("", result.k, result.strategy, result.nprobe, result.bundle_version, hits)
    body = _result_json(shaped, base_url)
    source, *others = body["results"]
    plan = {key: body[key] for key in ("k", "strategy", "nprobe", "bundle_version")}
    return {"source": source, **plan, "results": others, "timing_ms": result.timing_ms}


def create_api(
    settings: Settings, service_factory: Callable[[Settings], SearchService] | None = None
) -> FastAPI:
    """Build the ASGI app. Nothing heavy happens here: the service is built on the first request."""
    if service_factory is None:
        from function_app.resources import build_service

        service_factory = build_service
    api = FastAPI(title="Caption search", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json")
    lock = threading.Lock()
    built: list[SearchService] = []

    def service() -> SearchService:
        if not built:
            with lock:
                if not built:
                    built.append(service_factory(settings))
        return built[0]

    api.state.service = service

    if settings.cors_allowed_origins:
        from fastapi.middleware.cors import CORSMiddleware

        # Content-Type: the picture upload's image/* type is not one a browser sends without asking.
        api.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
        )
    # Added innermost first: SecurityHeaders wraps everything, so 413s and 500s carry its headers too.
    picture_limit = {PICTURE_PATH: (MAX_PICTURE_BYTES, PICTURE_READ_SECONDS)}
    api.add_middleware(
        BodyLimit, max_bytes=MAX_BODY_BYTES, read_seconds=BODY_READ_SECONDS, paths=picture_limit
    )
    api.add_middleware(HeadAsGet)
    api.add_middleware(UnexpectedErrors)
    api.add_middleware(SecurityHeaders)

    @api.exception_handler(InvalidRequest)
    async def invalid_request(_: Request, exc: InvalidRequest) -> JSONResponse:
        return error_response(400, str(exc))

    @api.exception_handler(PictureError)
    async def bad_picture(_: Request, exc: PictureError) -> JSONResponse:
        return error_response(exc.status, str(exc))

    @api.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, str(exc))

    @api.exception_handler(ServiceUnavailable)
    async def unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        log.warning("search unavailable: %s", exc)
        return error_response(503, redact_paths(str(exc)), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return error_response(exc.status_code, message, headers=headers)

    @api.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "malformed request")

    search = settings.search

    def k_and_nprobe(params: Mapping[str, Any]) -> tuple[int, int | None]:
        """The result count (default: the configured k) and the optional probe count of any query."""
        k = parse_int("k", params.get("k"), search.default_k, 1, search.max_k)
        assert k is not None
        return k, parse_int("nprobe", params.get("nprobe"), None, 1, MAX_NPROBE)

    def run_search(params: Mapping[str, Any], request: Request) -> JSONResponse:
        query = params.get("q")
        check_query_text(query)
        k, nprobe = k_and_nprobe(params)
        filters = parse_filters(params)
        result = service().search(query, k, nprobe, filters=filters)  # type: ignore[arg-type]
        return JSONResponse(_result_json(result, str(request.base_url).rstrip("/")))

    @api.get(
        "/api/search",
        summary="Search the images by a description",
        responses=openapi.search_responses(body=False),
        openapi_extra={"parameters": openapi.search_parameters(search)},
    )
    def search_get(request: Request) -> JSONResponse:
        check_parameters([key for key, _ in request.query_params.multi_items()])
        return run_search(request.query_params, request)

    @api.post(
        "/api/search",
        summary="Search the images by a description, given as JSON",
        responses=openapi.search_responses(body=True),
        openapi_extra={"requestBody": openapi.search_body(search)},
    )
    async def search_post(request: Request) -> JSONResponse:
        payload = parse_json_body(await request.body())  # BodyLimit has bounded its size
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(run_search, payload, request)

    def run_picture_search(picture: bytes, params: Mapping[str, Any], request: Request) -> JSONResponse:
        k, nprobe = k_and_nprobe(params)
        result = service().search_picture(picture, k, nprobe)
        body = _result_json(result, str(request.base_url).rstrip("/"))
        return JSONResponse({**body, "route": result.route})  # "visual" or "tags" (picture_search.md)

    @api.post(
        PICTURE_PATH,
        summary="Search the images by a picture, sent as the raw request body",
        responses=openapi.picture_responses(),
        openapi_extra=openapi.picture_request(search, MAX_PICTURE_BYTES),
    )
    async def search_picture(request: Request) -> JSONResponse:
        check_parameters([key for key, _ in request.query_params.multi_items()], ("k", "nprobe"))
        check_content_type(request.headers.get("content-type"))
        picture = await request.body()  # BodyLimit has bounded its size
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(run_picture_search, picture, request.query_params, request)

    @api.get(
        "/api/similar",
        summary="Images like one in the index, by its stored caption embedding",
        responses=openapi.similar_responses(),
        openapi_extra={"parameters": openapi.similar_parameters(search)},
    )
    def similar_get(request: Request) -> JSONResponse:
        params = request.query_params
        check_parameters([key for key, _ in params.multi_items()], SIMILAR_PARAMETERS)
        image_id = parse_image_id(params.get("id"))
        k, nprobe = k_and_nprobe(params)
        result = service().similar(image_id, k, nprobe)
        return JSONResponse(_similar_json(result, str(request.base_url).rstrip("/")))

    @api.get(
        "/api/health",
        summary="Whether the bundle and the database are ready",
        responses=openapi.health_responses(),
    )
    def health() -> JSONResponse:
        report = service().health()
        for part in ("bundle", "database"):
            error = report.get(part, {}).get("error")
            if error:
                log.warning("health: %s: %s", part, error)
                report[part]["error"] = redact_paths(error)
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    if settings.images.kind == "folder" and settings.images.images_dir is not None:
        _add_image_route(api, settings.images.images_dir)

    if settings.serve_web and (WEB_DIR / "index.html").is_file():
        _mount_web(api, WEB_DIR)
    return api


def allowed_methods(request: Request) -> str:
    """The Allow header of a 405: the methods of every route at this path (HEAD wherever GET is)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE and getattr(route, "methods", None):
            methods |= route.methods
    if not methods or "GET" in methods:  # none: the static page's mount, which serves GET and HEAD
        methods |= {"GET", "HEAD"}
    return ", ".join(sorted(methods))


# What the indexer reads, and SVG (drawings; the browser tests' corpus). None of them can run script
# on this origin: SVG is script-capable when opened as a document, but every non-page response carries
# a sandboxing Content-Security-Policy (middleware.RESOURCE_CSP), and inside <img> it never runs.
SERVED_IMAGE_SUFFIXES = frozenset(IMAGE_EXTENSIONS | {".svg"})
_IMAGE_SUFFIXES = ", ".join(sorted(SERVED_IMAGE_SUFFIXES))


def image_name_problem(name: str) -> tuple[int, str] | None:
    """Why ``name`` is not served from the images folder (status, message), or None. Only image files
    that are not hidden are served, so that a planted page or script never runs on this origin."""
    from core.images.base import check_name

    try:
        check_name(name)
    except ValueError as exc:
        return 400, str(exc)
    for part in name.split("/"):
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_PART_BYTES:
            return 400, f"image name has a part of {size} bytes; the limit is {MAX_NAME_PART_BYTES}"
        if part.startswith("."):
            return 404, f"hidden files are not served: {name!r}"
    dot = name.rfind(".")
    if dot <= name.rfind("/") or name[dot:].lower() not in SERVED_IMAGE_SUFFIXES:
        return 404, f"not an image: {name!r}; only {_IMAGE_SUFFIXES} files are served"
    return None


def _add_image_route(api: FastAPI, images_dir: Path) -> None:
    @api.get(
        "/images/{name:path}", summary="An image of the local folder", responses=openapi.image_responses()
    )
    def image(name: str) -> Response:
        from core.images import LocalFolderStore

        problem = image_name_problem(name)
        if problem is not None:
            return error_response(*problem)
        try:
            path = LocalFolderStore(images_dir).path_of(name)
            found = path.is_file()
        except ValueError as exc:
            return error_response(400, str(exc))
        except OSError:  # e.g. a path longer than the system allows
            found = False
        if not found:
            return error_response(404, f"no image named {name!r}")
        return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


def _mount_web(api: FastAPI, web_dir: Path) -> None:
    from fastapi.staticfiles import StaticFiles

    api.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
