"""Search by picture's visual route: rank the active version's rows by cosine of images.visual.

Exact search over the rows that have a visual vector, or the version's HNSW index on
``visual::vector(v)`` (core/vector_index.py) where the service's plan asks for it. Static SQL with bound
parameters; the ANN query writes the dimension into its text, as the index expression does.
"""

from __future__ import annotations

import numpy as np
from psycopg2 import sql

from core.database import Connection
from core.vector_index import typed_visual
from function_app.index_reader import IndexedImage, indexed_image

_VISUAL_SEARCH = """
SELECT image_id, name, caption, alternatives, tags, 1 - (visual <=> %(query)s) AS similarity,
    text_in_picture
FROM images
WHERE bundle_version = %(version)s AND visual IS NOT NULL
ORDER BY visual <=> %(query)s
LIMIT %(k)s
"""


def visual_ann_query(dim: int) -> sql.Composed:
    """The ANN search's statement for a ``dim``-dimensional visual space (EXPLAIN it to see the index)."""
    # The dimension comes from the bundle's visual manifest (an integer checked by typed_visual), never
    # from a request; the query must repeat the index's expression and predicate for the planner to use it.
    column = typed_visual(dim)
    return sql.SQL(
        "SELECT image_id, name, caption, alternatives, tags, 1 - ({column} <=> %(query)s::vector({dim})) "
        "AS similarity, text_in_picture FROM images "
        "WHERE bundle_version = %(version)s AND visual IS NOT NULL "
        "ORDER BY {column} <=> %(query)s::vector({dim}) LIMIT %(k)s"
    ).format(column=column, dim=sql.Literal(int(dim)))


def search_visual(
    conn: Connection, version: str, query: np.ndarray, k: int, ef_search: int | None = None
) -> list[IndexedImage]:
    """Top ``k`` rows of ``version`` by cosine of their visual vector to ``query`` (v,), a unit vector of
    the bundle's visual space; rows without one (indexed before the column) are not ranked. Exact, or with
    ``ef_search`` through the version's visual HNSW index (the caller checks that it exists)."""
    vector = np.asarray(query, dtype=np.float32)
    params = {"query": vector, "version": version, "k": k}
    with conn.cursor() as cur:
        if ef_search is None:
            cur.execute(_VISUAL_SEARCH, params)
        else:
            # HNSW returns at most ef_search rows, so it must be at least k; local to the transaction.
            cur.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(ef_search, k)),))
            cur.execute(visual_ann_query(vector.shape[0]), params)
        return [indexed_image(row) for row in cur.fetchall()]
