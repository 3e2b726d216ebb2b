"""What the planner needs to know about a bundle version, read from the database and cached per version.

A query must not pay a count(*) and a catalog look-up every time. The live row count is re-read at most
every ``recheck_seconds``, so an index that incremental runs grow past the exact-search threshold
switches to its ANN strategy within that time, without a refit. An ANN index once seen is taken to stay
(it goes only with its version); one seen missing is looked for again after ``recheck_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core.database import Connection
from function_app.index_reader import ann_index_exists, count_images
from function_app.planner import PlanOptions, VersionFacts

RECHECK_SECONDS = 30.0


class VersionFactsCache:
    def __init__(
        self, recheck_seconds: float = RECHECK_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._recheck = recheck_seconds
        self._clock = clock
        self._rows: dict[str, tuple[int, float]] = {}  # version -> (live rows, when counted)
        self._ann_present: set[tuple[str, str]] = set()  # (version, method)
        self._ann_missing: dict[tuple[str, str], float] = {}  # (version, method) -> when seen missing

    def facts(self, conn: Connection, version: str, options: PlanOptions) -> VersionFacts:
        """The facts of ``version`` that planning with ``options`` depends on; the others are not read
        (rows 0 without an exact-search threshold, no ANN index for a strategy without one)."""
        rows = self.rows(conn, version) if options.exact_below > 0 else 0
        method = options.strategy.vector_index
        return VersionFacts(rows, method is not None and self.ann_index(conn, version, method))

    def rows(self, conn: Connection, version: str) -> int:
        now = self._clock()
        cached = self._rows.get(version)
        if cached is None or now - cached[1] >= self._recheck:
            cached = (count_images(conn, version), now)
            self._rows[version] = cached
        return cached[0]

    def ann_index(self, conn: Connection, version: str, method: str) -> bool:
        key = (version, method)
        if key in self._ann_present:
            return True
        now = self._clock()
        missing_since = self._ann_missing.get(key)
        if missing_since is not None and now - missing_since < self._recheck:
            return False
        if ann_index_exists(conn, version, method):
            self._ann_present.add(key)
            self._ann_missing.pop(key, None)
            return True
        self._ann_missing[key] = now
        return False
