"""The query planner on hand-made inputs: each rule, and a per-call nprobe over the configured one."""

from __future__ import annotations

import numpy as np
import pytest

from core.vector_index import Strategy
from function_app.planner import PlanOptions, SearchPlan, VersionFacts, choose_strategy, plan_search

# Four centroids on the unit circle; the query (0.8, 0.6) is nearest 0, then 1, then 3, then 2.
CENTROIDS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=np.float32)  # (C, d)
QUERY = np.array([0.8, 0.6], dtype=np.float32)  # (d,)
LARGE = VersionFacts(rows=50_000, ann_index=True)


def plan(options: PlanOptions, facts: VersionFacts, nprobe: int | None = None) -> SearchPlan:
    return plan_search(options, facts, QUERY, CENTROIDS, nprobe)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_version_under_the_threshold_is_searched_exactly(strategy: Strategy) -> None:
    options = PlanOptions(strategy, exact_below=10_000)
    assert plan(options, VersionFacts(rows=9_999, ann_index=False)) == SearchPlan(Strategy.EXACT)
    assert choose_strategy(options, VersionFacts(rows=1, ann_index=True)) is Strategy.EXACT


def test_at_the_threshold_the_configured_strategy_is_used() -> None:
    options = PlanOptions(Strategy.IVFFLAT, nprobe=3, exact_below=10_000)
    assert plan(options, VersionFacts(rows=10_000, ann_index=True)) == SearchPlan(Strategy.IVFFLAT, (), 3)


def test_an_empty_version_or_no_threshold_is_not_searched_exactly() -> None:
    assert choose_strategy(PlanOptions(Strategy.HNSW), VersionFacts(rows=0, ann_index=True)) is Strategy.HNSW
    never = PlanOptions(Strategy.HNSW, exact_below=0)
    assert choose_strategy(never, VersionFacts(rows=5, ann_index=True)) is Strategy.HNSW


@pytest.mark.parametrize("strategy", [Strategy.HNSW, Strategy.IVFFLAT])
def test_an_ann_strategy_without_its_index_routes_through_the_clusters(strategy: Strategy) -> None:
    planned = plan(PlanOptions(strategy, nprobe=2), VersionFacts(rows=50_000, ann_index=False))
    assert planned == SearchPlan(Strategy.CLUSTERS, (0, 1), 2)


def test_cluster_routing_probes_the_nearest_centroids_in_order() -> None:
    assert plan(PlanOptions(Strategy.CLUSTERS, nprobe=3), LARGE).clusters == (0, 1, 3)
    # The ANN-index fact does not matter to strategies without one.
    assert plan(PlanOptions(Strategy.CLUSTERS, nprobe=1), VersionFacts(50_000, False)).clusters == (0,)
    assert plan(PlanOptions(Strategy.EXACT, exact_below=0), VersionFacts(50_000, False)).clusters == ()


def test_hnsw_carries_ef_search() -> None:
    assert plan(PlanOptions(Strategy.HNSW, ef_search=40), LARGE) == SearchPlan(Strategy.HNSW, (), 8, 40)


def test_a_per_call_nprobe_wins_over_the_options() -> None:
    options = PlanOptions(Strategy.CLUSTERS, nprobe=1)
    assert plan(options, LARGE, nprobe=2) == SearchPlan(Strategy.CLUSTERS, (0, 1), 2)
    assert plan(PlanOptions(Strategy.IVFFLAT, nprobe=8), LARGE, nprobe=20).probes == 20
    with pytest.raises(ValueError, match="^nprobe must be between 1 and 32768, got 0$"):
        plan(options, LARGE, nprobe=0)
    with pytest.raises(ValueError, match="^nprobe must be between 1 and 32768, got 32769$"):
        plan(options, LARGE, nprobe=32_769)  # pgvector refuses more ivfflat.probes: it was a 500


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nprobe", 0, "nprobe must be between 1 and 32768, got 0"),
        ("nprobe", 32_769, "nprobe must be between 1 and 32768, got 32769"),
        ("ef_search", 0, "ef_search must be between 1 and 1000, got 0"),
        ("ef_search", 1_001, "ef_search must be between 1 and 1000, got 1001"),
        ("exact_below", -1, "exact_below must be at least 0, got -1"),
    ],
)
def test_options_refuse_impossible_values(field: str, value: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        PlanOptions(Strategy.IVFFLAT, **{field: value})
