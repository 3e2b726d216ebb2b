"""The planner's facts about a version, cached against a real PostgreSQL and read again on time."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from core.vector_index import Strategy, create_vector_index, drop_vector_indexes
from function_app.planner import PlanOptions, VersionFacts
from function_app.version_facts import VersionFactsCache
from indexing.versions import CaptionedImage
from tests.conftest import index_corpus
from tests.corpus import captions
from tests.function_app.conftest import grow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def small(pg_admin_dsn: str, encoder_dir: Path, tmp_path: Path) -> tuple[str, str]:
    corpus = [CaptionedImage(f"c{i}", f"c/{i}.png", t) for i, t in enumerate(captions(30))]
    dsn, _, version = index_corpus(pg_admin_dsn, encoder_dir, tmp_path, corpus, pca_dim=8, clusters=2)
    return dsn, version


def test_the_row_count_is_read_again_only_after_the_interval(small: tuple[str, str]) -> None:
    dsn, version = small
    clock = Clock()
    cache = VersionFactsCache(30.0, clock)
    conn = psycopg2.connect(dsn)
    assert cache.rows(conn, version) == 30
    grow(dsn, version, 5)
    clock.now += 29.0
    assert cache.rows(conn, version) == 30  # no count(*) per query
    clock.now += 1.0
    assert cache.rows(conn, version) == 35
    assert cache.rows(conn, "another-version") == 0
    conn.close()


def test_a_missing_ann_index_is_looked_for_again_and_a_present_one_is_kept(small: tuple[str, str]) -> None:
    dsn, version = small
    clock = Clock()
    cache = VersionFactsCache(30.0, clock)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    drop_vector_indexes(conn, version)
    assert not cache.ann_index(conn, version, "ivfflat")
    create_vector_index(conn, version, 8, "ivfflat", lists=2)
    clock.now += 10.0
    assert not cache.ann_index(conn, version, "ivfflat")  # seen missing 10 s ago
    clock.now += 20.0
    assert cache.ann_index(conn, version, "ivfflat")
    drop_vector_indexes(conn, version)
    clock.now += 1000.0
    assert cache.ann_index(conn, version, "ivfflat")  # an index goes only with its version
    assert not cache.ann_index(conn, version, "hnsw")
    conn.close()


def test_only_the_facts_the_options_need_are_read(small: tuple[str, str]) -> None:
    dsn, version = small
    cache = VersionFactsCache(30.0, Clock())
    conn = psycopg2.connect(dsn)
    assert cache.facts(conn, version, PlanOptions(Strategy.IVFFLAT)) == VersionFacts(30, True)
    assert cache.facts(conn, version, PlanOptions(Strategy.CLUSTERS, exact_below=0)) == VersionFacts(0, False)
    conn.close()
