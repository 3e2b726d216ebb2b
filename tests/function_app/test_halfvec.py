"""The halfvec index storage (INDEX_VECTOR_STORAGE=halfvec) in a real PostgreSQL + pgvector: the index is
built on ``embedding::halfvec(d)``, every ANN statement of such a version walks it, finds what exact search
finds at generous settings, and returns the full-precision cosine of the ``vector`` path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import psycopg2
import pytest
from pgvector.psycopg2 import register_vector
from psycopg2 import sql

from core.bundle import load_bundle
from core.database import Connection
from core.space import normalize_rows, project
from core.tags import tags_json
from core.text_encoder import OnnxSentenceEncoder
from core.vector_index import METHODS, Strategy, VectorStorage, create_vector_index, vector_index_name
from function_app.filtered_search import FILTER_SQL, search_filtered
from function_app.filters import SearchFilters
from function_app.index_reader import search_index, stored_image
from function_app.planner import SearchPlan
from function_app.queries import for_plan, plan_params
from function_app.ranking import RankingOptions
from function_app.resources import build_service
from indexing.store import RowBatch, insert_new_rows
from indexing.versions import CaptionedImage, build_index
from tests.function_app.conftest import make_settings
from tests.function_app.plans import explain_through_index

ROWS, DIM, CLUSTERS, K = 600, 16, 12, 10
# One ANN index each, so the planner has no choice; the same rows and ids in every version.
VERSIONS: dict[tuple[str, VectorStorage], str] = {
    ("hnsw", "halfvec"): "hv-hnsw",
    ("ivfflat", "halfvec"): "hv-ivfflat",
    ("hnsw", "vector"): "v-hnsw",
    ("ivfflat", "vector"): "v-ivfflat",
}
RARE = SearchFilters(folder="rare")  # 5 % of the rows, in every cluster (19 and 12 are coprime)
GENEROUS = {
    "hnsw": SearchPlan(Strategy.HNSW, ef_search=400),
    "ivfflat": SearchPlan(Strategy.IVFFLAT, probes=CLUSTERS),
}


def _vectors() -> np.ndarray:
    rng = np.random.default_rng(17)
    centres = rng.normal(size=(CLUSTERS, DIM))  # (C, d): clustered, as caption embeddings are
    return normalize_rows(
        (centres[np.arange(ROWS) % CLUSTERS] + 0.6 * rng.normal(size=(ROWS, DIM))).astype(np.float32)
    )


NAMES = [f"rare/{i}.jpg" if i % 19 == 3 else f"common/{i}.jpg" for i in range(ROWS)]


@pytest.fixture(scope="module")
def database(pg_admin_dsn: str) -> Iterator[tuple[Connection, np.ndarray]]:
    from core.database import apply_schema
    from tests.conftest import create_database

    conn = psycopg2.connect(create_database(pg_admin_dsn))
    apply_schema(conn)
    register_vector(conn)
    vectors = _vectors()  # (N, d)
    ids = [f"id{i:04d}" for i in range(ROWS)]
    for (method, storage), version in VERSIONS.items():
        batch = RowBatch(
            version, ids, NAMES, ["c"] * ROWS, vectors, np.zeros(ROWS, dtype=np.int32), ["t"] * ROWS,
            None, [tags_json([("dog", 0.7)])] * ROWS,
        )  # fmt: skip
        insert_new_rows(conn, batch)
        create_vector_index(conn, version, DIM, method, lists=CLUSTERS, storage=storage)
    with conn.cursor() as cur:
        cur.execute("ANALYZE images")
    conn.commit()
    yield conn, vectors
    conn.close()


def _queries(vectors: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(3)
    return normalize_rows((vectors[:8] + 0.3 * rng.normal(size=(8, DIM))).astype(np.float32))  # (8, d)


def _plan(method: str, storage: VectorStorage, **knobs: int) -> SearchPlan:
    return SearchPlan(Strategy(method), storage=storage, **knobs)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", METHODS)
def test_a_halfvec_version_s_index_is_built_on_halfvec_cosine_ops(
    database: tuple[Connection, np.ndarray], method: str
) -> None:
    conn, _ = database
    with conn.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN (%s, %s)",
            (vector_index_name(f"hv-{method}", method), vector_index_name(f"v-{method}", method)),
        )
        definitions = dict(cur.fetchall())
    half = definitions[vector_index_name(f"hv-{method}", method)]
    full = definitions[vector_index_name(f"v-{method}", method)]
    assert f"USING {method} (((embedding)::halfvec({DIM})) halfvec_cosine_ops)" in half, half
    assert f"USING {method} (((embedding)::vector({DIM})) vector_cosine_ops)" in full, full


@pytest.mark.parametrize("filtered", [False, True], ids=["plain", "filtered"])
@pytest.mark.parametrize("method", METHODS)
def test_each_halfvec_statement_is_planned_through_the_halfvec_index(
    database: tuple[Connection, np.ndarray], method: str, filtered: bool
) -> None:
    conn, vectors = database
    plan = _plan(method, "halfvec")
    statement = for_plan(plan, DIM, (FILTER_SQL,) if filtered else (), relaxed=filtered)
    version = VERSIONS[(method, "halfvec")]
    params = plan_params(plan, {"query": vectors[3], "version": version, "k": K, **RARE.sql_params()})
    explained = explain_through_index(conn, statement, params)
    assert vector_index_name(version, method) in explained, explained


@pytest.mark.parametrize("method", METHODS)
def test_halfvec_finds_what_exact_search_finds_with_the_vector_path_s_similarities(
    database: tuple[Connection, np.ndarray], method: str
) -> None:
    conn, vectors = database
    generous = GENEROUS[method]
    for query in _queries(vectors):
        exact = search_index(conn, VERSIONS[(method, "halfvec")], query, K, SearchPlan(Strategy.EXACT))
        half = search_index(
            conn,
            VERSIONS[(method, "halfvec")],
            query,
            K,
            _plan(method, "halfvec", probes=generous.probes, ef_search=generous.ef_search),
        )
        full = search_index(
            conn,
            VERSIONS[(method, "vector")],
            query,
            K,
            _plan(method, "vector", probes=generous.probes, ef_search=generous.ef_search),
        )
        conn.rollback()
        assert [r.image_id for r in half] == [r.image_id for r in exact] == [r.image_id for r in full]
        # Ranked in half precision, but the similarity is the column's full-precision cosine.
        assert np.allclose([r.similarity for r in half], [r.similarity for r in full], rtol=0, atol=1e-6)
        expected = vectors[[int(r.image_id[2:]) for r in half]] @ query
        assert np.allclose([r.similarity for r in half], expected, rtol=0, atol=1e-6)


def _walking(
    conn: Connection, version: str, query: np.ndarray, plan: SearchPlan, *, iterative: bool = True
) -> list[tuple[object, ...]]:
    """search_filtered's rows (RARE, no exact re-check) with the index forced: a few hundred rows are
    sorted faster than an index is walked."""
    with conn.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("SET LOCAL enable_sort = off")
    rows = search_filtered(conn, version, query, K, plan, RARE, iterative=iterative, fallback=False)
    conn.rollback()
    return rows


@pytest.mark.parametrize("method", METHODS)
def test_a_filtered_search_walks_the_halfvec_index_until_k_rows_pass(
    database: tuple[Connection, np.ndarray], method: str
) -> None:
    conn, vectors = database
    version = VERSIONS[(method, "halfvec")]
    # Narrow settings: one list, or a candidate list of k, holds fewer than k of the 5 % that pass.
    plan = _plan(method, "halfvec", probes=1, ef_search=K)
    keep = [i for i, name in enumerate(NAMES) if name.startswith("rare/")]
    for query in _queries(vectors)[:4]:
        plain = _walking(conn, version, query, plan, iterative=False)
        walked = _walking(conn, version, query, plan)
        assert len(plain) < K  # so k rows came from walking on, not from the first probe
        assert len(walked) == K and all(str(row[1]).startswith("rare/") for row in walked)
        found = [int(str(row[0])[2:]) for row in walked]
        similarities = [cast(float, row[5]) for row in walked]
        assert np.allclose(similarities, vectors[found] @ query, rtol=0, atol=1e-6)
        assert similarities == sorted(similarities, reverse=True)
        generous = _plan(method, "halfvec", probes=CLUSTERS, ef_search=400)
        wide = _walking(conn, version, query, generous)
        best = sorted(keep, key=lambda i: -float(vectors[i] @ query))[:K]
        assert [int(str(row[0])[2:]) for row in wide] == best


@pytest.fixture(scope="module")
def published(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, str]:
    """A version built and published by the indexer's builder with INDEX_VECTOR_STORAGE=halfvec and an
    IVFFlat index: (DSN, share, version)."""
    from tests.conftest import create_database

    # No clusters: IVFFlat at one probe is sure to miss some of a row's neighbours.
    embeddings = normalize_rows(np.random.default_rng(11).normal(size=(800, 384)).astype(np.float32))
    images = [CaptionedImage(f"p{i:04d}", f"p/{i}.png", f"picture {i}") for i in range(800)]
    dsn, share = create_database(pg_admin_dsn), tmp_path_factory.mktemp("halfvec-share")
    conn = psycopg2.connect(dsn)
    version = build_index(
        images,
        conn=conn,
        share=share,
        encoder_dir=encoder_dir,
        pca_dim=16,
        clusters=20,
        embeddings=embeddings,
        vector_storage="halfvec",
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        # Every connection (the service's pool too) walks an index where it can: 800 rows are sorted
        # faster. Without one on the expression a statement orders by, it sorts them anyway.
        cur.execute("SELECT current_database()")
        name = sql.Identifier(cur.fetchone()[0])
        cur.execute(sql.SQL("ALTER DATABASE {} SET enable_seqscan = off").format(name))
        cur.execute(sql.SQL("ALTER DATABASE {} SET enable_sort = off").format(name))
    conn.close()
    return dsn, share, version


def test_the_service_searches_a_halfvec_version_through_its_index(
    published: tuple[str, Path, str], tmp_path: Path
) -> None:
    """At one probe IVFFlat misses neighbours that exact search finds: the service's answers are the
    halfvec index's, so it ordered by the expression the index is built on."""
    dsn, share, version = published
    service = build_service(
        make_settings(dsn, share, tmp_path, SEARCH_STRATEGY="ivfflat", SEARCH_EXACT_BELOW="0")
    )
    bundle = load_bundle(share)
    assert bundle.vector_storage == "halfvec"
    conn = psycopg2.connect(dsn)
    register_vector(conn)
    one_probe = SearchPlan(Strategy.IVFFLAT, probes=1, storage="halfvec")
    differs = 0
    for source in ("p0000", "p0101", "p0202", "p0303", "p0404", "p0505"):
        found = service.similar(source, K, nprobe=1)
        assert found.strategy is Strategy.IVFFLAT
        stored = stored_image(conn, version, source)
        assert stored is not None
        walked = search_index(conn, version, stored[1], K + 1, one_probe)
        exact = search_index(conn, version, stored[1], K + 1, SearchPlan(Strategy.EXACT))
        conn.rollback()
        assert [hit.image_id for hit in found.hits] == [r.image_id for r in walked if r.image_id != source][
            :K
        ]
        expected = {r.image_id: r.similarity for r in exact}
        for hit in found.hits:  # the full-precision cosine, rounded as the service rounds it
            if hit.image_id in expected:
                assert hit.similarity == round(expected[hit.image_id], 4)
        differs += [r.image_id for r in walked] != [r.image_id for r in exact]
    assert differs > 0
    cosine_only = RankingOptions(text_weight=0.0, min_similarity=None, answer_similarity=None)
    result = service.search("a picture of something", K, nprobe=1, ranking=cosine_only)
    query = project(
        OnnxSentenceEncoder(bundle.encoder_dir).encode(["a picture of something"]),
        bundle.pca_mean,
        bundle.pca_components,
    )[0]
    walked = search_index(conn, version, query, K, one_probe)
    conn.close()
    assert [hit.image_id for hit in result.hits] == [r.image_id for r in walked]
