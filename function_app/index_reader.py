"""Read queries against the search index: static SQL, bound parameters only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexing.database import Connection

_ROUTED_SEARCH = """
SELECT image_id, name, caption, 1 - (embedding <=> %(query)s) AS score
FROM images
WHERE bundle_version = %(version)s AND cluster_id = ANY(%(clusters)s)
ORDER BY embedding <=> %(query)s
LIMIT %(k)s
"""

_EXACT_SEARCH = """
SELECT image_id, name, caption, 1 - (embedding <=> %(query)s) AS score
FROM images
WHERE bundle_version = %(version)s
ORDER BY embedding <=> %(query)s
LIMIT %(k)s
"""


@dataclass(frozen=True)
class IndexedImage:
    image_id: str
    name: str
    caption: str
    score: float  # cosine similarity in the reduced space, 1 is identical


def search_index(
    conn: Connection,
    version: str,
    query: np.ndarray,
    k: int,
    clusters: Sequence[int] | None,
) -> list[IndexedImage]:
    """Top ``k`` rows of ``version`` by cosine similarity; only the given clusters, or all rows if None."""
    params = {"query": np.asarray(query, dtype=np.float32), "version": version, "k": k}
    with conn.cursor() as cur:
        if clusters is None:
            cur.execute(_EXACT_SEARCH, params)
        else:
            cur.execute(_ROUTED_SEARCH, {**params, "clusters": [int(c) for c in clusters]})
        rows = cur.fetchall()
    return [IndexedImage(image_id=r[0], name=r[1], caption=r[2], score=float(r[3])) for r in rows]
