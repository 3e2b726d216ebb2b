"""The metrics on hand-made rankings whose Recall@k, ranks and AP are worked out by hand."""

from __future__ import annotations

import math

import pytest

from evaluation.metrics import (
    average_precision,
    evaluate_rankings,
    first_relevant_rank,
    median,
    merge_rows,
    recall_ratio,
)


def test_first_relevant_rank() -> None:
    assert first_relevant_rank(["a", "b", "c"], {"c"}) == 3
    assert first_relevant_rank(["a", "b", "c"], {"b", "c"}) == 2
    assert first_relevant_rank(["a", "b"], {"z"}) == math.inf


def test_average_precision_by_hand() -> None:
    # relevant at positions 1 and 3 of 2 relevant: (1/1 + 2/3) / 2
    assert average_precision(["r1", "x", "r2"], {"r1", "r2"}, depth=10) == pytest.approx((1 + 2 / 3) / 2)
    # one of two relevant found, at position 2: (1/2) / 2
    assert average_precision(["x", "r1"], {"r1", "r2"}, depth=10) == pytest.approx(0.25)
    # more relevant images than the depth: a perfect list of depth 2 scores 1
    assert average_precision(["r1", "r2"], {"r1", "r2", "r3"}, depth=2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one relevant image"):
        average_precision(["a"], set(), depth=10)


def test_evaluate_rankings_recall_median_map() -> None:
    rankings = [["a", "b"], ["x", "y", "c"], ["p", "q"], ["d"]]
    relevant = [{"a"}, {"c"}, {"z"}, {"d", "e"}]
    report = evaluate_rankings(rankings, relevant, ks=(1, 2, 3), depth=10)
    assert report.ranks == (1.0, 3.0, math.inf, 1.0)
    assert report.recall == {1: 0.5, 2: 0.5, 3: 0.75}
    assert report.median_rank == 2.0
    assert report.mean_ap == pytest.approx((1 + 1 / 3 + 0 + 0.5) / 4)
    assert report.mean_results == pytest.approx(2.0)


def test_median_with_missing_queries_is_infinite() -> None:
    assert median([1.0, math.inf, math.inf]) == math.inf
    assert median([1.0, 3.0, math.inf, math.inf]) == math.inf
    assert median([1.0, 3.0]) == 2.0


def test_rankings_must_list_each_image_once() -> None:
    with pytest.raises(ValueError, match="more than once"):
        evaluate_rankings([["a", "a"]], [{"a"}])
    with pytest.raises(ValueError, match="2 rankings for 1 queries"):
        evaluate_rankings([["a"], ["b"]], [{"a"}])


def test_merge_rows_keeps_each_image_at_its_best_score() -> None:
    rows = [("a", 0.9), ("b", 0.8), ("a", 0.7), ("c", 0.6), ("b", 0.5)]
    assert merge_rows(rows, limit=10) == [("a", 0.9), ("b", 0.8), ("c", 0.6)]
    assert merge_rows(rows, limit=2) == [("a", 0.9), ("b", 0.8)]


def test_recall_ratio_against_the_reference_with_a_bootstrap_interval() -> None:
    reference = [1.0] * 10 + [math.inf] * 2  # finds 10 of 12
    system = [1.0] * 7 + [50.0] * 3 + [math.inf] * 2  # finds 7 of those 10
    result = recall_ratio(system, reference, k=10, resamples=2000, seed=1)
    assert result.ratio == pytest.approx(0.7)
    assert 0.35 < result.low < 0.7 < result.high <= 1.0
    assert recall_ratio(system, reference, k=10, resamples=2000, seed=1) == result  # fixed by seed
    same = recall_ratio(reference, reference, k=10, resamples=500)
    assert (same.ratio, same.low, same.high) == (1.0, 1.0, 1.0)
    # A system can beat its reference on some queries: the ratio is not capped at 1.
    assert recall_ratio([1.0, 1.0], [1.0, 20.0], k=10).ratio == 2.0


def test_recall_ratio_needs_matching_queries_and_a_reference_that_finds_something() -> None:
    with pytest.raises(ValueError, match="same queries"):
        recall_ratio([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="finds nothing"):
        recall_ratio([1.0], [math.inf])
