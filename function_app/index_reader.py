"""Read queries against the search index: static SQL text, bound parameters only.

Four ways to rank the active bundle version's rows by cosine similarity (function_app/planner.py picks
one per query):
  hnsw, ivfflat  pgvector ANN indexes built per bundle version (core/vector_index.py);
  clusters       the original design: only the rows of the query's nearest K-means clusters;
  exact          every row (the reference; slow on large indexes).
(their statements are composed in function_app/queries.py), and the full-text rank of the query's words
in all of an image's captions and tags, for hybrid ranking (function_app/ranking.py). No index serves
it: the text of the given candidate rows only is parsed and ranked at query time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core.captions import split_captions
from core.database import Connection
from core.tags import ImageTags, parse_tags
from core.vector_index import vector_index_name
from function_app.filtered_search import search_filtered
from function_app.filters import SearchFilters
from function_app.planner import SearchPlan
from function_app.queries import ann_settings, for_plan, plan_params, set_local

__all__ = [
    "IndexedImage",
    "SearchPlan",
    "ann_index_exists",
    "count_images",
    "indexed_image",
    "search_index",
    "stored_image",
    "text_ranks",
]

# One image of a version with its own stored vector: the query of "more like this" (similar.py).
_STORED_IMAGE = """
SELECT image_id, name, caption, alternatives, tags, 1.0 AS similarity, text_in_picture, taken, taken_from,
    embedding
FROM images
WHERE bundle_version = %(version)s AND image_id = %(id)s
"""

# ``q.query``: the query's words as an OR of lexemes, so a long query still finds captions sharing one
# word with it. Ranked with ts_rank_cd, whose normalisation 32 maps the rank into [0, 1).
QUERY_LEXEMES_CTE = """
WITH q AS (
    SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS query
    FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS lexeme
)"""
# An image's searchable text: every caption it has, the words read in it (indexing/ocr.py) and the words
# of its tags (core/tags.py). One stored text of them all parsed no faster (docs/tags.md "latency").
IMAGE_TERMS = (
    "(to_tsvector('english'::regconfig, caption || ' ' || alternatives || ' ' || text_in_picture) "
    "|| jsonb_to_tsvector('english'::regconfig, tags, '[\"string\"]'))"
)

# Only the given rows (the semantic candidates) are parsed and ranked, so the work per query is
# bounded whatever the index size. MATERIALIZED: inlined, the CTE would parse a matching row's terms twice
# (for @@ and for the rank): 1.53 against 1.81 ms median for 50 candidates at 100k rows (docs/tags.md).
_TEXT_RANKS = (
    QUERY_LEXEMES_CTE
    + f""", candidates AS MATERIALIZED (
    SELECT image_id, {IMAGE_TERMS} AS terms
    FROM images
    WHERE bundle_version = %(version)s AND image_id = ANY(%(ids)s)
)
SELECT image_id, ts_rank_cd(terms, q.query, 32) AS rank
FROM candidates, q
WHERE q.query IS NOT NULL AND terms @@ q.query
"""
)


@dataclass(frozen=True)
class IndexedImage:
    image_id: str
    name: str
    caption: str
    alternatives: tuple[str, ...]  # the captioner's other captions of the image, best first
    similarity: float  # cosine similarity to the query in the reduced space, 1 is identical
    text_rank: float = 0.0  # full-text rank of the query's words in captions and tags, in [0, 1); 0: none
    tags: ImageTags = ()  # (word, confidence), names before generic words
    text_in_picture: str = ""  # the words OCR read in the picture (indexing/ocr.py); '': none or OCR off
    # When it was taken and where that time came from ("exif", "modified"; "": indexed before dates),
    # read with the row so that a search needs no second round trip for them (indexing/taken.py).
    taken: datetime | None = None
    taken_from: str = ""


def search_index(
    conn: Connection,
    version: str,
    query: np.ndarray,
    k: int,
    plan: SearchPlan,
    filters: SearchFilters | None = None,
) -> list[IndexedImage]:
    """Top ``k`` rows of ``version`` by cosine similarity to ``query``, a unit vector of the reduced space;
    with ``filters``, the top ``k`` of those they keep (function_app/filtered_search.py)."""
    if filters is not None and filters.active:
        return [indexed_image(row) for row in search_filtered(conn, version, query, k, plan, filters)]
    vector = np.asarray(query, dtype=np.float32)
    params = plan_params(plan, {"query": vector, "version": version, "k": k})
    with conn.cursor() as cur:
        if plan.strategy.vector_index:
            set_local(cur, ann_settings(plan, k))
        cur.execute(for_plan(plan, vector.shape[0]), params)
        rows = cur.fetchall()
    return [indexed_image(row) for row in rows]


def stored_image(conn: Connection, version: str, image_id: str) -> tuple[IndexedImage, np.ndarray] | None:
    """Image ``image_id`` of ``version`` and its stored (d,) unit vector, or None if it has no such row."""
    with conn.cursor() as cur:
        cur.execute(_STORED_IMAGE, {"version": version, "id": image_id})
        row = cur.fetchone()
    if row is None:
        return None
    return indexed_image(row[:-1]), row[-1].to_numpy().astype(np.float32)  # a pgvector Vector


def text_ranks(conn: Connection, version: str, text: str, image_ids: Sequence[str]) -> dict[str, float]:
    """Full-text rank of the query's words in the captions of these rows; rows sharing no word are absent."""
    if not image_ids:
        return {}
    params = {"text": text, "version": version, "ids": list(image_ids)}
    with conn.cursor() as cur:
        cur.execute(_TEXT_RANKS, params)
        return {str(image_id): float(rank) for image_id, rank in cur.fetchall()}


def indexed_image(row: Sequence[object], text_rank: float = 0.0) -> IndexedImage:
    """An ``(image_id, name, caption, alternatives, tags, similarity[, text_in_picture[, taken,
    taken_from]])`` result row as an IndexedImage."""
    image_id, name, caption, alternatives, tags, similarity, *read = row
    taken = read[1] if len(read) > 1 else None
    return IndexedImage(
        str(image_id),
        str(name),
        str(caption),
        tuple(split_captions(str(alternatives))),
        float(similarity),  # type: ignore[arg-type]
        text_rank,
        parse_tags(tags),
        str(read[0]) if read else "",
        taken if isinstance(taken, datetime) else None,
        str(read[2] or "") if len(read) > 2 else "",
    )


def ann_index_exists(conn: Connection, version: str, method: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (vector_index_name(version, method),))
        row = cur.fetchone()
    return bool(row and row[0])


def count_images(conn: Connection, version: str) -> int:
    """Rows of ``version``: what the planner compares with the exact-search threshold."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM images WHERE bundle_version = %s", (version,))
        row = cur.fetchone()
    return int(row[0]) if row else 0
