"""Filtered search: the strategies of index_reader.py with the filters of filters.py, static SQL only.

Every filter is one bound parameter of the one static ``FILTER_SQL`` (NULL or an empty array leaves it
open), so no SQL text is ever built from a request. An ANN index walks the rows nearest the query and
drops those the filter refuses; a selective filter would leave fewer than k. pgvector 0.8's iterative
index scans keep walking until k rows pass (``relaxed_order``, re-sorted here; bounded by
``hnsw.max_scan_tuples`` and ``ivfflat.max_probes``), and when a strategy still returns fewer than k
(the bound was reached, or the query's K-means clusters hold fewer matches) the filtered rows are
searched exactly, so a filtered search returns k results whenever k rows pass the filter.
"""

from __future__ import annotations

import numpy as np

from core.database import Connection
from core.vector_index import Strategy
from function_app.filters import SearchFilters
from function_app.planner import SearchPlan
from function_app.queries import ann_settings, for_plan, nearest, plan_params, set_local

# hnsw.max_scan_tuples: pgvector's default (20,000) reaches 50 rows through a 1 % filter with room to spare
# (docs/filters.md); ivfflat.max_probes: every list, as pgvector's default.
HNSW_MAX_SCAN_TUPLES = 20_000

FILTER_SQL = """
  AND (%(taken_after)s::timestamptz IS NULL OR taken >= %(taken_after)s::timestamptz)
  AND (%(taken_before)s::timestamptz IS NULL OR taken < %(taken_before)s::timestamptz)
  AND (%(folder)s::text IS NULL OR starts_with(name, %(folder)s::text))
  AND (cardinality(%(tags)s::text[]) = 0 OR NOT EXISTS (
      SELECT 1 FROM unnest(%(tags)s::text[]) AS wanted(word)
      WHERE NOT EXISTS (
          SELECT 1 FROM jsonb_array_elements(tags) AS held(pair)
          WHERE lower(held.pair->>0) = wanted.word AND (held.pair->>1)::float8 >= %(tag_confidence)s
      )
  ))"""
_FILTERED = (FILTER_SQL,)


def search_filtered(
    conn: Connection,
    version: str,
    query: np.ndarray,
    k: int,
    plan: SearchPlan,
    filters: SearchFilters,
    *,
    iterative: bool = True,
    fallback: bool = True,
) -> list[tuple[object, ...]]:
    """The top ``k`` rows that pass ``filters``, in queries.py's row shape; fewer only when fewer pass.
    ``iterative=False`` turns pgvector's iterative scans off and ``fallback=False`` the exact re-check
    (what benchmarks/filtered_recall.py compares)."""
    vector = np.asarray(query, dtype=np.float32)
    params = plan_params(plan, {"query": vector, "version": version, "k": k, **filters.sql_params()})
    with conn.cursor() as cur:
        if plan.strategy.vector_index:
            mode = "relaxed_order" if iterative else "off"
            scans = {
                "hnsw.iterative_scan": mode,
                "hnsw.max_scan_tuples": str(HNSW_MAX_SCAN_TUPLES),
                "ivfflat.iterative_scan": mode,
            }
            set_local(cur, ann_settings(plan, k) | scans)
        cur.execute(for_plan(plan, vector.shape[0], _FILTERED, relaxed=True), params)
        rows = cur.fetchall()
        if len(rows) < k and plan.strategy is not Strategy.EXACT and fallback:
            # Fewer than k found: search the filtered rows exactly.
            cur.execute(nearest("embedding", None, _FILTERED), params)
            rows = cur.fetchall()
    return rows
