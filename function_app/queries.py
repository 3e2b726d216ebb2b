"""The search statements, composed from one shape: static SQL text and bound parameters only.

Every search returns ``(image_id, name, caption, alternatives, tags, similarity, text_in_picture,
taken, taken_from)`` for the rows of ``%(version)s`` nearest to ``%(query)s`` by cosine distance, at
most ``%(k)s``, nearest first. What differs from one search to another is said by its module
(index_reader.py, filtered_search.py, visual_search.py):
  the vector        ``embedding`` or ``visual``; as stored for a scan, or as the expression its ANN index
                    is built on (core/vector_index.py), which the query must repeat for the planner to use
                    the index; for a version whose text index has the halfvec storage, the rows are found
                    in the index's half-precision order and sorted again by full-precision cosine, which
                    is also the similarity returned;
  the conditions    static text after ``bundle_version = %(version)s`` (IN_CLUSTERS, the filters, ...);
  relaxed           pgvector's iterative scans in relaxed order return rows slightly out of order, so the
                    rows are found in a materialised CTE and sorted again;
and the settings an ANN search sets for its transaction first (``set_local``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Literal, assert_never

from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from core.vector_index import DEFAULT_STORAGE, Strategy, VectorStorage, typed_embedding, typed_visual
from function_app.planner import SearchPlan

Vector = Literal["embedding", "visual"]

# Only the rows of the query's nearest K-means clusters (Strategy.CLUSTERS); ``%(clusters)s`` is an int[].
IN_CLUSTERS = " AND cluster_id = ANY(%(clusters)s)"

_ROW = (
    "image_id, name, caption, alternatives, tags, {similarity} AS similarity, text_in_picture, "
    "taken, taken_from"
)
_FROM = "FROM images WHERE bundle_version = %(version)s"


@cache
def nearest(
    vector: Vector,
    dim: int | None,
    conditions: tuple[str, ...] = (),
    relaxed: bool = False,
    storage: VectorStorage = DEFAULT_STORAGE,
) -> sql.Composed:
    """The statement that ranks the rows meeting ``conditions`` (module constants, each starting with
    AND) by the cosine distance of ``vector`` to the query: exact over the column as stored when ``dim``
    is None, else through its ANN index's expression for that dimension and ``storage`` (both from a
    bundle manifest, never a request). The similarity is full-precision cosine whatever the storage."""
    distance = _distance(vector, dim)
    where = sql.SQL(_FROM + "".join(conditions))
    if not relaxed and storage == "vector":
        return sql.SQL("SELECT " + _ROW + " {where} ORDER BY {distance} LIMIT %(k)s").format(
            similarity=sql.SQL("1 - ({})").format(distance), where=where, distance=distance
        )
    # Found in the index's order (relaxed, or in half precision), then sorted by the distance returned.
    order = distance if dim is None else _distance(vector, dim, storage)
    return sql.SQL(
        "WITH found AS MATERIALIZED (SELECT image_id, name, caption, alternatives, tags, text_in_picture, "
        "taken, taken_from, {distance} AS distance {where} ORDER BY {order} LIMIT %(k)s) "
        "SELECT " + _ROW + " FROM found ORDER BY distance"
    ).format(similarity=sql.SQL("1 - distance"), where=where, distance=distance, order=order)


def for_plan(
    plan: SearchPlan, dim: int, conditions: tuple[str, ...] = (), relaxed: bool = False
) -> sql.Composed:
    """The statement of ``plan``'s strategy over ``images.embedding`` (``dim`` its size); ``relaxed``
    and the plan's ``storage`` apply to the ANN strategies only. Bind ``plan_params``."""
    match plan.strategy:
        case Strategy.EXACT:
            return nearest("embedding", None, conditions)
        case Strategy.CLUSTERS:
            return nearest("embedding", None, (IN_CLUSTERS, *conditions))
        case Strategy.HNSW | Strategy.IVFFLAT:
            return nearest("embedding", int(dim), conditions, relaxed, plan.storage)
        case _:
            assert_never(plan.strategy)


def plan_params(plan: SearchPlan, params: Mapping[str, object]) -> dict[str, object]:
    """``params`` with what ``plan``'s statement binds besides them (the clusters it routes to)."""
    if plan.strategy is Strategy.CLUSTERS:
        return {**params, "clusters": [int(c) for c in plan.clusters]}
    return dict(params)


def ann_settings(plan: SearchPlan, k: int) -> dict[str, str]:
    """The settings of an ANN search: both index kinds' whichever was asked for, as a version may hold
    both and PostgreSQL picks one by cost (IVFFlat at its default single probe looks cheapest). HNSW
    returns at most ef_search rows, so it must be at least ``k``."""
    return {"hnsw.ef_search": str(max(plan.ef_search, k)), "ivfflat.probes": str(plan.probes)}


def set_local(cur: Cursor, settings: Mapping[str, str]) -> None:
    """Set these PostgreSQL settings until the transaction ends; names and values are bound parameters."""
    cur.execute(
        "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(settings)),
        [part for setting in settings.items() for part in setting],
    )


def _distance(vector: Vector, dim: int | None, storage: VectorStorage = DEFAULT_STORAGE) -> sql.Composable:
    if dim is None:
        return sql.SQL("{} <=> %(query)s").format(sql.Identifier(vector))
    if vector == "visual" and storage != DEFAULT_STORAGE:
        raise ValueError(f"the visual index is stored as vector, not {storage}")
    typed = typed_embedding(dim, storage) if vector == "embedding" else typed_visual(dim)
    return sql.SQL("{} <=> %(query)s::{}({})").format(typed, sql.SQL(storage), sql.Literal(int(dim)))
