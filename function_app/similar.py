"""More like this: the active version's images ranked by cosine similarity to one of its own images.

The query is the image's stored reduced embedding (``images.embedding``, unit length), planned and
searched exactly as a text query's vector is (planner.py, index_reader.search_index), so it scales the
same way. There is no full-text part and no answer gate: an image in the index always has neighbours.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.database import Connection
from function_app.errors import NotFound
from function_app.index_reader import IndexedImage, SearchPlan, search_index, stored_image


@dataclass(frozen=True)
class Neighbours:
    source: IndexedImage  # the image asked about; similarity 1
    plan: SearchPlan
    images: list[IndexedImage]  # at most k, nearest first, the source excluded
    timing_ms: dict[str, float] = field(default_factory=dict)


def nearest_others(rows: Sequence[IndexedImage], image_id: str, k: int) -> list[IndexedImage]:
    """The ``k`` rows nearest first (ties by id, as the search's), without the image ``image_id``."""
    others = [row for row in rows if row.image_id != image_id]
    others.sort(key=lambda row: (-row.similarity, row.image_id))
    return others[:k]


def find_neighbours(
    conn: Connection,
    version: str,
    image_id: str,
    k: int,
    plan_for: Callable[[np.ndarray], SearchPlan],
) -> Neighbours:
    """The ``k`` images of ``version`` nearest to its image ``image_id``; ``plan_for`` plans the search
    of a (d,) query vector. NotFound when ``version`` has no such image."""
    started = time.perf_counter()
    found = stored_image(conn, version, image_id)
    if found is None:
        raise NotFound(f"no image with id {image_id!r} in the index")
    source, vector = found
    looked_up = time.perf_counter()
    plan = plan_for(vector)
    # One more than k: the image itself is its own nearest row (unless an ANN search misses it).
    rows = search_index(conn, version, vector, k + 1, plan)
    searched = time.perf_counter()
    timing = {
        "lookup": round((looked_up - started) * 1000, 2),
        "database": round((searched - looked_up) * 1000, 2),
    }
    return Neighbours(source, plan, nearest_others(rows, image_id, k), timing)
