"""Search by picture's visual route: rank the active version's rows by cosine of images.visual.

Exact search over the rows that have a visual vector, or the version's HNSW index on
``visual::vector(v)`` (core/vector_index.py) where the service's plan asks for it. Static SQL with bound
parameters; the ANN query writes the dimension into its text, as the index expression does.
"""

from __future__ import annotations

import numpy as np
from psycopg2 import sql

from core.database import Connection
from function_app.index_reader import IndexedImage, indexed_image
from function_app.queries import nearest, set_local

# The predicate of the visual HNSW index (core/vector_index.create_visual_index), which the ANN query
# must repeat for the planner to use it.
_HAS_VISUAL = (" AND visual IS NOT NULL",)


def visual_ann_query(dim: int) -> sql.Composed:
    """The ANN search's statement for a ``dim``-dimensional visual space (EXPLAIN it to see the index)."""
    return nearest("visual", int(dim), _HAS_VISUAL)


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
            cur.execute(nearest("visual", None, _HAS_VISUAL), params)
        else:
            # HNSW returns at most ef_search rows, so it must be at least k.
            set_local(cur, {"hnsw.ef_search": str(max(ef_search, k))})
            cur.execute(visual_ann_query(vector.shape[0]), params)
        return [indexed_image(row) for row in cur.fetchall()]
