"""Search by picture's visual route: rank the active version's rows by cosine of images.visual.

Exact search over the rows that have a visual vector (static SQL, bound parameters). There is no ANN
index on the column yet: docs/picture_search.md says what that costs at 100k rows.
"""

from __future__ import annotations

import numpy as np

from core.database import Connection
from function_app.index_reader import IndexedImage, indexed_image

_VISUAL_SEARCH = """
SELECT image_id, name, caption, alternatives, tags, 1 - (visual <=> %(query)s) AS similarity,
    text_in_picture
FROM images
WHERE bundle_version = %(version)s AND visual IS NOT NULL
ORDER BY visual <=> %(query)s
LIMIT %(k)s
"""


def search_visual(conn: Connection, version: str, query: np.ndarray, k: int) -> list[IndexedImage]:
    """Top ``k`` rows of ``version`` by cosine of their visual vector to ``query`` (v,), a unit vector of
    the bundle's visual space; rows without one (indexed before the column) are not ranked."""
    params = {"query": np.asarray(query, dtype=np.float32), "version": version, "k": k}
    with conn.cursor() as cur:
        cur.execute(_VISUAL_SEARCH, params)
        return [indexed_image(row) for row in cur.fetchall()]
