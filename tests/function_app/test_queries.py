"""The composed search statements (function_app/queries.py) in a real PostgreSQL + pgvector: every ANN
statement, filtered or not, is planned through its strategy's index (it orders by the expression the
index is built on), and every search sets the knobs it promises, for its transaction only."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psycopg2
import pytest
from pgvector.psycopg2 import register_vector

from core.database import Connection
from core.space import normalize_rows
from core.tags import tags_json
from core.vector_index import (
    METHODS,
    VISUAL_METHOD,
    Strategy,
    create_vector_index,
    create_visual_index,
    vector_index_name,
)
from function_app.filtered_search import FILTER_SQL
from function_app.filters import SearchFilters
from function_app.index_reader import search_index
from function_app.planner import SearchPlan
from function_app.queries import for_plan, plan_params
from function_app.visual_search import search_visual, visual_ann_query
from indexing.store import RowBatch, insert_new_rows
from tests.function_app.plans import explain_through_index

ROWS, DIM, K = 400, 8, 12
VERSION = {"hnsw": "v-hnsw", "ivfflat": "v-ivfflat"}  # one ANN index each, so the planner has no choice
KNOBS = (
    "hnsw.ef_search",
    "ivfflat.probes",
    "hnsw.iterative_scan",
    "ivfflat.iterative_scan",
    "hnsw.max_scan_tuples",
)
FOLDER = SearchFilters(folder="f")  # active, and every row passes it


@pytest.fixture(scope="module")
def database(pg_admin_dsn: str) -> Iterator[tuple[Connection, np.ndarray]]:
    from core.database import apply_schema
    from tests.conftest import create_database

    conn = psycopg2.connect(create_database(pg_admin_dsn))
    apply_schema(conn)
    register_vector(conn)
    rng = np.random.default_rng(5)
    vectors = normalize_rows(rng.normal(size=(ROWS, DIM)).astype(np.float32))  # (N, d)
    for method, version in VERSION.items():
        ids = [f"{method}{i:04d}" for i in range(ROWS)]
        batch = RowBatch(
            version, ids, [f"f/{i}.jpg" for i in range(ROWS)], ["c"] * ROWS, vectors,
            np.zeros(ROWS, dtype=np.int32), ["t"] * ROWS, None, [tags_json([("dog", 0.7)])] * ROWS,
            visual=vectors,
        )  # fmt: skip
        insert_new_rows(conn, batch)
        create_vector_index(conn, version, DIM, method, lists=10)
    create_visual_index(conn, VERSION["hnsw"], DIM)
    with conn.cursor() as cur:
        cur.execute("ANALYZE images")
    conn.commit()
    yield conn, vectors
    conn.close()


def _settings(conn: Connection) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(KNOBS)), KNOBS)
        row = cur.fetchone()
    assert row is not None
    return dict(zip(KNOBS, row, strict=True))


@pytest.mark.parametrize("filtered", [False, True], ids=["plain", "filtered"])
@pytest.mark.parametrize("method", METHODS)
def test_each_ann_statement_is_planned_through_its_index(
    database: tuple[Connection, np.ndarray], method: str, filtered: bool
) -> None:
    conn, vectors = database
    plan = SearchPlan(Strategy(method))
    statement = for_plan(plan, DIM, (FILTER_SQL,) if filtered else (), relaxed=filtered)
    params = plan_params(
        plan, {"query": vectors[3], "version": VERSION[method], "k": K, **FOLDER.sql_params()}
    )
    explained = explain_through_index(conn, statement, params)
    assert vector_index_name(VERSION[method], method) in explained, explained


def test_the_visual_ann_statement_is_planned_through_its_index(
    database: tuple[Connection, np.ndarray],
) -> None:
    conn, vectors = database
    params = {"query": vectors[3], "version": VERSION["hnsw"], "k": K}
    explained = explain_through_index(conn, visual_ann_query(DIM), params)
    assert vector_index_name(VERSION["hnsw"], VISUAL_METHOD) in explained, explained


@pytest.mark.parametrize("filters", [None, FOLDER], ids=["plain", "filtered"])
@pytest.mark.parametrize("strategy", list(Strategy))
def test_every_search_sets_its_knobs_for_its_transaction_only(
    database: tuple[Connection, np.ndarray], strategy: Strategy, filters: SearchFilters | None
) -> None:
    conn, vectors = database
    conn.rollback()  # whatever an earlier test left
    defaults = _settings(conn)
    assert defaults == {
        "hnsw.ef_search": "40",
        "ivfflat.probes": "1",
        "hnsw.iterative_scan": "off",
        "ivfflat.iterative_scan": "off",
        "hnsw.max_scan_tuples": "20000",
    }
    plan = SearchPlan(strategy, clusters=(0,), probes=3, ef_search=7)
    version = VERSION.get(strategy.value, VERSION["hnsw"])
    found = search_index(conn, version, vectors[3], K, plan, filters)
    assert [image.image_id for image in found][:1] == [f"{version[2:]}0003"]
    assert len(found) == K
    expected = dict(defaults)
    if strategy.vector_index:
        # Both index kinds' knobs whichever was asked for; ef_search at least k.
        expected |= {"hnsw.ef_search": str(K), "ivfflat.probes": "3"}
        if filters is not None:
            expected |= {"hnsw.iterative_scan": "relaxed_order", "ivfflat.iterative_scan": "relaxed_order"}
    assert _settings(conn) == expected
    conn.rollback()
    assert _settings(conn) == defaults


def test_a_visual_ann_search_sets_ef_search_at_least_k(database: tuple[Connection, np.ndarray]) -> None:
    conn, vectors = database
    found = search_visual(conn, VERSION["hnsw"], vectors[3], K, ef_search=7)
    assert [image.image_id for image in found][:1] == ["hnsw0003"]
    assert _settings(conn)["hnsw.ef_search"] == str(K)
    conn.rollback()
    assert _settings(conn)["hnsw.ef_search"] == "40"
