"""The scripted API answers in the real API's shape, so the page tests exercise what the page really gets."""

from __future__ import annotations

from typing import Any

from core.vector_index import Strategy
from function_app.api import _result_json
from function_app.service import SearchHit, SearchResult
from tests.web.scripted_api import result, results_body


def shape(value: Any) -> Any:
    """The keys and value types of a JSON answer, recursively (a list by its first item)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_a_scripted_answer_has_the_real_answers_shape() -> None:
    hit = SearchHit("id1", "dogs/rex.png", "a dog", ("a puppy",), 0.9, 0.8, True, "/images/dogs/rex.png")
    real = _result_json(
        SearchResult(
            "dog",
            10,
            Strategy.EXACT,
            None,
            "v1",
            [hit],
            {"encode": 1.0, "assign": 0.1, "database": 1.0, "total": 2.1},
        ),
        "http://testserver",
    )
    scripted = results_body("dog", 10, [result(1, "a dog", alternatives=["a puppy"], text_match=True)])
    assert shape(scripted) == shape(real)
