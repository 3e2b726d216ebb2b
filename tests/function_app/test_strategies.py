"""Every search strategy over the same real index: same best answers, ANN indexes used when present."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from fastapi.testclient import TestClient

from core.database import ConnectionPool, make_connector
from core.images import LocalFolderStore
from core.vector_index import Strategy, create_vector_index, drop_vector_indexes, vector_index_name
from function_app.api import create_api
from function_app.bundles import BundleProvider
from function_app.planner import PlanOptions
from function_app.ranking import RankingOptions
from function_app.service import SearchService
from indexing.versions import CaptionedImage
from tests.conftest import index_corpus
from tests.corpus import captions
from tests.function_app.conftest import grow, make_settings


@pytest.fixture(scope="module")
def ann_index(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, str]:
    corpus = [CaptionedImage(f"c{i}", f"c/{i}.png", text) for i, text in enumerate(captions())]
    share = tmp_path_factory.mktemp("ann-share")
    dsn, share, version = index_corpus(pg_admin_dsn, encoder_dir, share, corpus, pca_dim=64, clusters=20)
    conn = psycopg2.connect(dsn)
    create_vector_index(conn, version, 64, "hnsw")
    create_vector_index(conn, version, 64, "ivfflat", lists=20)
    conn.commit()
    conn.close()
    return dsn, share, version


@pytest.fixture(scope="module")
def hnsw_index(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, str]:
    """The corpus of ann_index with only an HNSW index. Beside the IVFFlat index, pgvector 0.8's planner
    picks IVFFlat (at one probe) for an "hnsw" search once statistics exist."""
    corpus = [CaptionedImage(f"c{i}", f"c/{i}.png", text) for i, text in enumerate(captions())]
    share = tmp_path_factory.mktemp("hnsw-share")
    dsn, share, version = index_corpus(pg_admin_dsn, encoder_dir, share, corpus, pca_dim=64, clusters=20)
    conn = psycopg2.connect(dsn)
    drop_vector_indexes(conn, version)  # the IVFFlat index that indexing builds
    create_vector_index(conn, version, 64, "hnsw")
    conn.commit()
    conn.close()
    return dsn, share, version


QUERIES = [
    "a dog running on a sandy beach",
    "two horses waiting under a bridge",
    "an old car sleeping inside a kitchen",
]


@pytest.mark.parametrize("strategy", ["hnsw", "ivfflat", "clusters", "exact"])
def test_each_strategy_finds_the_exact_caption_first(
    ann_index: tuple[str, Path, str], tmp_path: Path, strategy: str
) -> None:
    dsn, share, _ = ann_index
    client = TestClient(
        create_api(make_settings(dsn, share, tmp_path, SEARCH_STRATEGY=strategy, SEARCH_EXACT_BELOW="0"))
    )
    for query in QUERIES:
        body = client.get("/api/search", params={"q": query, "k": 20}).json()
        assert body["strategy"] == strategy
        assert body["results"][0]["caption"] == query
        assert len(body["results"]) == 20
        assert (body["nprobe"] is not None) == (strategy in ("clusters", "ivfflat"))


def test_hnsw_results_agree_with_exact_search(hnsw_index: tuple[str, Path, str], tmp_path: Path) -> None:
    from function_app.queries import nearest

    dsn, share, version = hnsw_index
    # 432 rows are sorted faster than the index is walked; forbid that, or "hnsw" would be exact too.
    walk_index = dsn + "&options=" + quote("-c enable_seqscan=off -c enable_sort=off")
    conn = psycopg2.connect(walk_index)
    with conn.cursor() as cur:
        cur.execute("ANALYZE images")
        cur.execute(
            "EXPLAIN " + nearest("embedding", 64).as_string(conn),
            {"query": [0.125] * 64, "version": version, "k": 10},
        )
        assert vector_index_name(version, "hnsw") in "\n".join(r[0] for r in cur.fetchall())
    conn.close()
    clients = {
        s: TestClient(
            create_api(make_settings(url, share, tmp_path, SEARCH_STRATEGY=s, SEARCH_EXACT_BELOW="0"))
        )
        for s, url in (("hnsw", walk_index), ("exact", dsn))
    }
    overlap = []
    for query in captions()[::37]:
        ids = {
            s: [h["id"] for h in c.get("/api/search", params={"q": query, "k": 10}).json()["results"]]
            for s, c in clients.items()
        }
        overlap.append(len(set(ids["hnsw"]) & set(ids["exact"])) / 10)
    assert sum(overlap) / len(overlap) >= 0.9


def test_uses_the_ann_index_in_the_plan(ann_index: tuple[str, Path, str]) -> None:
    from function_app.queries import nearest

    dsn, _, version = ann_index
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("ANALYZE images")
        # A 432-row table is sorted faster than it is walked; forbid that to see the index is usable.
        cur.execute("SET enable_seqscan = off")
        cur.execute("SET enable_sort = off")
        query = nearest("embedding", 64).as_string(conn)
        cur.execute(
            "EXPLAIN " + query, {"query": "[" + ",".join(["0.125"] * 64) + "]", "version": version, "k": 5}
        )
        plan = "\n".join(r[0] for r in cur.fetchall())
    conn.close()
    assert vector_index_name(version, "hnsw") in plan or vector_index_name(version, "ivfflat") in plan


def test_missing_ann_index_falls_back_to_cluster_routing(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path: Path
) -> None:
    corpus = [CaptionedImage(f"c{i}", f"c/{i}.png", t) for i, t in enumerate(captions(60))]
    dsn, _, version = index_corpus(pg_admin_dsn, encoder_dir, tmp_path, corpus, pca_dim=16, clusters=4)
    conn = psycopg2.connect(dsn)
    drop_vector_indexes(conn, version)
    conn.commit()
    client = TestClient(create_api(make_settings(dsn, tmp_path, tmp_path, SEARCH_EXACT_BELOW="0")))
    body = client.get("/api/search", params={"q": captions(60)[5]}).json()
    assert body["strategy"] == "clusters"
    assert body["results"][0]["caption"] == captions(60)[5]
    assert client.get("/api/health").json()["search"] == {"configured": "ivfflat", "in_use": "clusters"}
    conn.close()


def test_an_index_grown_past_exact_below_leaves_exact_search_without_a_refit(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path: Path
) -> None:
    corpus = [CaptionedImage(f"c{i}", f"c/{i}.png", t) for i, t in enumerate(captions(60))]
    dsn, share, version = index_corpus(pg_admin_dsn, encoder_dir, tmp_path, corpus, pca_dim=16, clusters=4)
    settings = make_settings(dsn, share, tmp_path, SEARCH_EXACT_BELOW="70")  # the default strategy: ivfflat
    pool = ConnectionPool(make_connector(dsn))
    service = SearchService(
        BundleProvider(share, check_seconds=0),
        pool,
        LocalFolderStore(tmp_path),
        settings.search,
        recheck_seconds=0,
    )
    query = captions(60)[5]
    assert service.search(query, 5).strategy is Strategy.EXACT  # 60 rows
    assert service.strategy_in_use() is Strategy.EXACT
    grow(dsn, version, 10)
    grown = service.search(query, 5)
    assert (grown.strategy, grown.nprobe, grown.bundle_version) == (Strategy.IVFFLAT, 4, version)
    assert grown.hits[0].caption == query
    assert service.strategy_in_use() is Strategy.IVFFLAT
    assert service.health()["search"] == {"configured": "ivfflat", "in_use": "ivfflat"}
    # A call's own plan and ranking win over the configured ones.
    assert service.search(query, 5, plan=PlanOptions(Strategy.EXACT)).strategy is Strategy.EXACT
    routed = service.search(query, 5, plan=PlanOptions(Strategy.CLUSTERS, nprobe=1, exact_below=0))
    assert (routed.strategy, routed.nprobe) == (Strategy.CLUSTERS, 1)
    nonsense = "vrolq zektif plumbanor"
    assert len(service.search(nonsense, 5).hits) < 5
    uncut = service.search(nonsense, 5, ranking=RankingOptions(text_weight=0.0).without_cutoff())
    assert len(uncut.hits) == 5 and all(hit.score == hit.similarity for hit in uncut.hits)
    pool.close()
