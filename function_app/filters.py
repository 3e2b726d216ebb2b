"""Search filters and sort: parsed strictly from a request, pure (no I/O).

``taken_after`` / ``taken_before`` bound the time a picture was taken (EXIF, else the file's modification
time; indexing/taken.py), both inclusive: a date means the whole day (UTC), a date-time without a zone
is read as UTC. ``folder`` keeps the images under that folder (a '/'-separated name prefix ending at a
folder boundary). ``tag`` (repeatable, or comma-separated) keeps the images tagged with every word given
at a confidence of at least ``tag_confidence``. ``sort`` orders the results: ``relevance`` (the
default), or ``newest`` / ``oldest``, which reorder the same k most relevant results by date (the
ones without a date last), so that changing the sort never changes which pictures are shown.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from function_app.errors import InvalidRequest

FILTER_PARAMETERS = ("taken_after", "taken_before", "folder", "tag", "sort")
REPEATABLE_PARAMETERS = frozenset({"tag"})
MAX_TAGS = 10
MAX_TAG_CHARS = 64
MAX_FOLDER_CHARS = 1024
# The confidence a tag must reach to count for a tag filter: the best F1 of tags against people's words on
# the validation splits (evaluation/tag_threshold.py, docs/filters.md "The tag threshold").
DEFAULT_TAG_CONFIDENCE = 0.6

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)


class Sort(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    OLDEST = "oldest"


@dataclass(frozen=True)
class SearchFilters:
    """What a search keeps, and how it orders what it keeps. The default keeps everything."""

    taken_after: datetime | None = None  # inclusive
    taken_before: datetime | None = None  # exclusive (a given date or time is inclusive: see parse)
    folder: str = ""  # images whose names start with this folder and a '/'; "": every folder
    tags: tuple[str, ...] = ()  # lower-case words, each of which an image's tags must hold
    tag_confidence: float = DEFAULT_TAG_CONFIDENCE
    sort: Sort = Sort.RELEVANCE

    @property
    def active(self) -> bool:
        """Whether any filter narrows the rows (the sort alone does not)."""
        return bool(self.taken_after or self.taken_before or self.folder or self.tags)

    def sql_params(self) -> dict[str, Any]:
        """The bound parameters of ``filtered_search.FILTER_SQL``."""
        return {
            "taken_after": self.taken_after,
            "taken_before": self.taken_before,
            "folder": self.folder + "/" if self.folder else None,
            "tags": list(self.tags),
            "tag_confidence": self.tag_confidence,
        }

    def keeps(self, name: str, taken: datetime | None, tags: Sequence[tuple[str, float]]) -> bool:
        """The filter in Python, as FILTER_SQL applies it (the reference the tests compare with)."""
        if (self.taken_after or self.taken_before) and taken is None:
            return False
        if self.taken_after and taken is not None and taken < self.taken_after:
            return False
        if self.taken_before and taken is not None and taken >= self.taken_before:
            return False
        if self.folder and not name.startswith(self.folder + "/"):
            return False
        held = {word.lower() for word, confidence in tags if confidence >= self.tag_confidence}
        return all(tag in held for tag in self.tags)


def parse_filters(params: Any, tag_confidence: float = DEFAULT_TAG_CONFIDENCE) -> SearchFilters:
    """The filters of a query string (``getlist`` for the repeatable ``tag``) or a JSON body (a dict
    whose ``tag`` may be a list); InvalidRequest says what is wrong and what is allowed."""
    after = parse_time("taken_after", params.get("taken_after"), end_of_day=False)
    before = parse_time("taken_before", params.get("taken_before"), end_of_day=True)
    if after is not None and before is not None and after >= before:
        shown = params.get("taken_after"), params.get("taken_before")
        raise InvalidRequest(f"taken_after ({shown[0]}) is later than taken_before ({shown[1]})")
    getlist = getattr(params, "getlist", None)
    raw_tags = getlist("tag") if getlist is not None else params.get("tag")
    return SearchFilters(
        after,
        before,
        parse_folder(params.get("folder")),
        parse_tags(raw_tags),
        tag_confidence,
        parse_sort(params.get("sort")),
    )


def parse_time(name: str, raw: Any, *, end_of_day: bool) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime; the end bound (``end_of_day``) is made
    exclusive: the day after a date, a microsecond after a time."""
    if raw is None or raw == "":
        return None
    example = "such as 2024-05-31 or 2024-05-31T18:30:00Z"
    if not isinstance(raw, str):
        shown = json.dumps(raw)[:40]
        raise InvalidRequest(f"{name} must be an ISO 8601 date or date-time {example}, got {shown}")
    text = raw.strip()
    try:
        if _DATE.fullmatch(text):
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start + timedelta(days=1) if end_of_day else start
        if _DATE_TIME.fullmatch(text):
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            return moment + timedelta(microseconds=1) if end_of_day else moment
    except (ValueError, OverflowError):
        raise InvalidRequest(f"{name} is not a valid date: {raw[:40]!r}") from None
    raise InvalidRequest(f"{name} must be an ISO 8601 date or date-time {example}, got {raw[:40]!r}")


def parse_folder(raw: Any) -> str:
    """A folder name without leading or trailing '/'; "" keeps every folder."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidRequest(f"folder must be a string, got {json.dumps(raw)[:40]}")
    if len(raw) > MAX_FOLDER_CHARS:
        raise InvalidRequest(f"folder is too long: {len(raw)} characters, the limit is {MAX_FOLDER_CHARS}")
    _check_printable("folder", raw)
    return raw.strip().strip("/")


def parse_tags(raw: Any) -> tuple[str, ...]:
    """Tags from repeated parameters and/or comma-separated lists, lower-cased, duplicates dropped."""
    if raw is None:
        return ()
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidRequest(f"tag must be a string or a list of strings, got {json.dumps(raw)[:40]}")
    tags: list[str] = []
    for value in values:
        for part in value.split(","):
            tag = " ".join(part.split()).lower()
            if not tag:
                raise InvalidRequest("tag must not be empty")
            if len(tag) > MAX_TAG_CHARS:
                raise InvalidRequest(f"tag is too long: {len(tag)} characters, the limit is {MAX_TAG_CHARS}")
            _check_printable("tag", tag)
            if tag not in tags:
                tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(f"too many tags: {len(tags)}, the limit is {MAX_TAGS}")
    return tuple(tags)


def parse_sort(raw: Any) -> Sort:
    if raw is None or raw == "":
        return Sort.RELEVANCE
    allowed = ", ".join(s.value for s in Sort)
    if not isinstance(raw, str) or raw not in {s.value for s in Sort}:
        shown = repr(raw[:40]) if isinstance(raw, str) else json.dumps(raw)[:40]
        raise InvalidRequest(f"sort must be one of {allowed}, got {shown}")
    return Sort(raw)


def _check_printable(name: str, text: str) -> None:
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise InvalidRequest(f"{name} must not contain control characters: it contains U+{ord(char):04X}")
