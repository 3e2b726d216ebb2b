"""A scripted search API for the states the real one cannot be asked for: errors, delays, odd answers.

A test says what the next searches get (`answer`, `answer_results`), optionally only for one query, and
reads `queries` to see what the page asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.web.site_server import ApiResponse


def result(
    n: int,
    caption: str,
    url: str | None = None,
    score: float = 0.5,
    alternatives: Sequence[str] = (),
    text_match: bool = False,
    tags: Sequence[tuple[str, float]] = (),
    taken: str | None = None,
    taken_from: str | None = None,
    text_in_picture: str = "",
) -> dict[str, Any]:
    """One result in the real API's shape (function_app/api.py); url defaults to an image that does not exist.

    The similarity is the score, as when the text match adds nothing to the blend.
    """
    return {
        "id": f"r{n}",
        "name": f"r{n}.png",
        "caption": caption,
        "alternatives": list(alternatives),
        "score": score,
        "similarity": score,
        "text_match": text_match,
        "url": url or f"/r{n}.png",
        "tags": [{"text": text, "confidence": confidence} for text, confidence in tags],
        "taken": taken,
        "taken_from": taken_from,
        "text_in_picture": text_in_picture,
    }


def results_body(query: str, k: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    """A 200's body in the real API's shape, as if an exact search had found `results`."""
    timing = {"encode": 1.0, "assign": 0.1, "database": 1.0, "total": 2.1}
    return {
        "query": query,
        "k": k,
        "strategy": "exact",
        "nprobe": None,
        "bundle_version": "scripted",
        "sort": "relevance",
        "results": results,
        "timing_ms": timing,
    }


@dataclass(frozen=True)
class _Answer:
    """A fixed response, or (response None) results to wrap in a 200 that echoes the request's q and k."""

    response: ApiResponse | None
    results: tuple[dict[str, Any], ...] = ()
    delay_s: float = 0.0


class ScriptedApi:
    """Answers /api/search as told; the default is 200 with no results."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._default = _Answer(response=None)
            self._by_query: dict[str, _Answer] = {}
            self._requests: list[tuple[str, int]] = []

    @property
    def queries(self) -> list[tuple[str, int]]:
        """(q, k) of every search so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def answer(
        self, status: int, body: dict[str, Any] | str, *, delay_s: float = 0.0, query: str = ""
    ) -> None:
        """From now on, searches (only for `query`, if given) get this answer; a str body is sent as HTML."""
        self._set(_Answer(response=ApiResponse(status, body, delay_s)), query)

    def answer_results(self, results: list[dict[str, Any]], *, delay_s: float = 0.0, query: str = "") -> None:
        """From now on, searches get a 200 with the first k of these results."""
        self._set(_Answer(response=None, results=tuple(results), delay_s=delay_s), query)

    def _set(self, answer: _Answer, query: str) -> None:
        with self._lock:
            if query:
                self._by_query[query] = answer
            else:
                self._default = answer

    def __call__(self, path: str, params: dict[str, list[str]]) -> ApiResponse:
        query = params.get("q", [""])[0]
        k = int(params.get("k", ["10"])[0])
        with self._lock:
            self._requests.append((query, k))
            answer = self._by_query.get(query, self._default)
        if answer.response is not None:
            return answer.response
        return ApiResponse(200, results_body(query, k, list(answer.results[:k])), answer.delay_s)
