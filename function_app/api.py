"""The HTTP API (FastAPI). It parses and validates requests, calls the search service and maps errors.

The same app runs under uvicorn locally and inside the Azure Function (search_function.py).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.settings import PROJECT_ROOT
from function_app.errors import InvalidRequest, ServiceUnavailable
from function_app.service import SearchResult, SearchService
from function_app.settings import Settings

log = logging.getLogger(__name__)

SEARCH_PARAMETERS = ("q", "k", "nprobe")
MAX_BODY_BYTES = 16 * 1024
WEB_DIR = PROJECT_ROOT / "web"


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "message": message}}, status_code=status, headers=headers
    )


def _parse_int(name: str, raw: Any, default: int | None) -> int | None:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidRequest(f"{name} must be an integer, got {json.dumps(raw)}")
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer, got {str(raw)[:40]!r}") from None


def _check_parameters(names: list[str]) -> None:
    unknown = sorted(set(names) - set(SEARCH_PARAMETERS))
    if unknown:
        raise InvalidRequest(
            f"unknown parameter(s): {', '.join(unknown)}; allowed: {', '.join(SEARCH_PARAMETERS)}"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidRequest(f"parameter(s) given more than once: {', '.join(repeated)}")


def _parse_json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidRequest('request body is empty: send JSON such as {"q": "a dog on a beach", "k": 10}')
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("request body is not valid UTF-8") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(payload, dict):
        raise InvalidRequest('request body must be a JSON object such as {"q": "a dog"}')
    return payload


def _result_json(result: SearchResult, base_url: str) -> dict[str, Any]:
    return {
        "query": result.query,
        "k": result.k,
        "strategy": result.strategy.value,
        "nprobe": result.nprobe,
        "bundle_version": result.bundle_version,
        "results": [
            {
                "id": hit.image_id,
                "name": hit.name,
                "caption": hit.caption,
                "alternatives": list(hit.alternatives),
                "score": hit.score,
                "similarity": hit.similarity,
                "text_match": hit.text_match,
                "url": base_url + hit.url if hit.url.startswith("/") else hit.url,
            }
            for hit in result.hits
        ],
        "timing_ms": result.timing_ms,
    }


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

        api.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_allowed_origins), allow_methods=["GET", "POST"]
        )

    @api.exception_handler(InvalidRequest)
    async def invalid_request(_: Request, exc: InvalidRequest) -> JSONResponse:
        return error_response(400, str(exc))

    @api.exception_handler(ServiceUnavailable)
    async def unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        log.warning("search unavailable: %s", exc)
        return error_response(503, str(exc), headers={"Retry-After": "5"})

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, message)

    @api.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "malformed request")

    @api.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal error: the failure was logged; please try again")

    def run_search(params: Mapping[str, Any], request: Request) -> JSONResponse:
        svc = service()
        k = _parse_int("k", params.get("k"), settings.search.default_k)
        nprobe = _parse_int("nprobe", params.get("nprobe"), None)
        query = params.get("q")
        if query is not None and not isinstance(query, str):
            raise InvalidRequest(f"q must be a string, got {json.dumps(query)[:40]}")
        assert k is not None
        result = svc.search(query, k, nprobe)  # type: ignore[arg-type]  # clean_query rejects None
        return JSONResponse(_result_json(result, str(request.base_url).rstrip("/")))

    @api.get("/api/search")
    def search_get(request: Request) -> JSONResponse:
        _check_parameters([key for key, _ in request.query_params.multi_items()])
        return run_search(request.query_params, request)

    @api.post("/api/search")
    async def search_post(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error_response(
                413, f"request body is too large: {len(body)} bytes, the limit is {MAX_BODY_BYTES}"
            )
        payload = _parse_json_body(body)
        _check_parameters(list(payload))
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(run_search, payload, request)

    @api.get("/api/health")
    def health() -> JSONResponse:
        report = service().health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    if settings.images.kind == "folder" and settings.images.images_dir is not None:
        images_dir = settings.images.images_dir

        @api.get("/images/{name:path}")
        def image(name: str) -> Response:
            from core.images import LocalFolderStore

            try:
                path = LocalFolderStore(images_dir).path_of(name)
            except ValueError as exc:
                return error_response(400, str(exc))
            if not path.is_file():
                return error_response(404, f"no image named {name!r}")
            return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    if settings.serve_web and (WEB_DIR / "index.html").is_file():
        _mount_web(api, WEB_DIR)
    return api


def _mount_web(api: FastAPI, web_dir: Path) -> None:
    from fastapi.staticfiles import StaticFiles

    api.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
