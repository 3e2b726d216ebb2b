"""Parsing a search request's raw input, strictly: every refusal is an InvalidRequest saying what is allowed.

Pure (no I/O): query parameters and JSON bodies come in as text, checked values or a 400's message
come out. The limits are generous for a search box and tight for an attacker: a JSON body is an
object nested at most ``MAX_JSON_DEPTH`` deep with integers of at most ``MAX_INTEGER_DIGITS`` digits.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from function_app.errors import InvalidRequest
from function_app.filters import FILTER_PARAMETERS, REPEATABLE_PARAMETERS

SEARCH_PARAMETERS = ("q", "k", "nprobe", *FILTER_PARAMETERS)
SIMILAR_PARAMETERS = ("id", "k", "nprobe")
MAX_IMAGE_ID_CHARS = 128  # ids are 32 hex digits (indexing/plan.py image_identity); room for others
MAX_JSON_DEPTH = 32
MAX_INTEGER_DIGITS = 20

_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only: no '+', '_', spaces or other scripts' digits
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def parse_int(name: str, raw: Any, default: int | None, low: int, high: int) -> int | None:
    """``raw`` (a query parameter's text, or a JSON value) as an integer in ``low..high``; ``default``
    when it is absent or empty."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidRequest(f"{name} must be an integer, got {json.dumps(raw)[:40]}")
    if isinstance(raw, str):
        if not _INTEGER.fullmatch(raw):
            raise InvalidRequest(f"{name} must be an integer, got {raw[:40]!r}")
        if len(raw.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise InvalidRequest(f"{name} must be between {low} and {high}, got {raw[:MAX_INTEGER_DIGITS]}…")
        value = int(raw)
    else:
        value = raw
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def check_query_text(raw: Any) -> None:
    """Refuse a ``q`` that no search could use: not a string, with a control character (NUL cannot
    even be stored by PostgreSQL), a lone surrogate, or nothing but spaces and invisible characters
    (zero-width spaces, joiners, BOMs). A missing, empty or over-long query is left to the service."""
    if raw is None:
        return
    if not isinstance(raw, str):
        raise InvalidRequest(f"q must be a string, got {json.dumps(raw)[:40]}")
    visible = False
    for char in raw:
        category = unicodedata.category(char)
        if category == "Cs":
            raise InvalidRequest(
                f"query must be valid Unicode: it contains a lone surrogate U+{ord(char):04X}"
            )
        if category == "Cc" and not char.isspace():
            raise InvalidRequest(f"query must not contain control characters: it contains U+{ord(char):04X}")
        visible = visible or not (char.isspace() or category == "Cf")
    if raw and not visible:
        raise InvalidRequest("query must not be empty")


def check_parameters(names: list[str], allowed: tuple[str, ...] = SEARCH_PARAMETERS) -> None:
    """Only the ``allowed`` parameters (by default the search's), each at most once but ``tag``."""
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        shown = ", ".join(ascii(n)[1:-1] if _has_surrogate(n) else n for n in unknown)
        raise InvalidRequest(f"unknown parameter(s): {shown}; allowed: {', '.join(allowed)}")
    repeated = sorted({n for n in names if names.count(n) > 1} - REPEATABLE_PARAMETERS)
    if repeated:
        raise InvalidRequest(f"parameter(s) given more than once: {', '.join(repeated)}")


def parse_image_id(raw: str | None) -> str:
    """The ``id`` of /api/similar: present, at most MAX_IMAGE_ID_CHARS long, printable Unicode."""
    if not raw:
        raise InvalidRequest("missing image id: pass a result's id as id, e.g. /api/similar?id=3f2a…&k=10")
    if len(raw) > MAX_IMAGE_ID_CHARS:
        limit = MAX_IMAGE_ID_CHARS
        raise InvalidRequest(f"image id is too long: {len(raw)} characters, the limit is {limit}")
    for char in raw:
        category, code = unicodedata.category(char), f"U+{ord(char):04X}"
        if category == "Cs":
            raise InvalidRequest(f"image id must be valid Unicode: it contains a lone surrogate {code}")
        if category == "Cc":
            raise InvalidRequest(f"image id must not contain control characters: it contains {code}")
    return raw


def parse_json_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object whose keys are the search parameters, each given once."""
    if not body.strip():
        raise InvalidRequest('request body is empty: send JSON such as {"q": "a dog on a beach", "k": 10}')
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("request body is not valid UTF-8") from None
    _check_depth(text)
    try:
        payload = json.loads(text, parse_int=_bounded_int, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(payload, _Pairs):
        raise InvalidRequest('request body must be a JSON object such as {"q": "a dog"}')
    check_parameters(payload.names)
    return dict(payload)


class _Pairs(dict[str, Any]):
    """A decoded JSON object that remembers its keys as given, repeats included."""

    names: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Pairs:
    obj = _Pairs(pairs)
    obj.names = [key for key, _ in pairs]
    return obj


def _bounded_int(digits: str) -> int:
    size = len(digits.lstrip("-"))
    if size > MAX_INTEGER_DIGITS:
        raise InvalidRequest(
            f"request body has an integer of {size} digits; the limit is {MAX_INTEGER_DIGITS}"
        )
    return int(digits)


def _check_depth(text: str) -> None:
    """Refuse arrays and objects nested deeper than MAX_JSON_DEPTH before the recursive parser sees them."""
    depth = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise InvalidRequest(f"request body is nested too deeply: the limit is {MAX_JSON_DEPTH} levels")


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)
