"""Text-to-image retrieval metrics: pure functions over rankings of image ids.

A query's ranking is the list of image ids the system returned, best first, each image at most once.
Recall@k is the share of queries with at least one relevant image in the top k (the usual text-to-image
Recall@k); the rank of a query is the 1-based position of its first relevant image; AP is average
precision over the returned list, normalised by min(|relevant|, depth) so that a perfect ranking of depth
``depth`` scores 1 even when more images than that are relevant.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

DEFAULT_KS = (1, 5, 10)


@dataclass(frozen=True)
class QualityReport:
    queries: int
    recall: dict[int, float]  # k -> share of queries with a relevant image in the top k
    median_rank: float  # math.inf when more than half of the queries found nothing in the returned list
    mean_ap: float
    mean_results: float  # returned images per query (below K only with a cutoff or a lexical filter)
    ranks: tuple[float, ...]  # each query's first relevant rank, math.inf when none was returned


def first_relevant_rank(ranking: Sequence[str], relevant: Collection[str]) -> float:
    """1-based position of the first relevant image, or math.inf when none was returned."""
    for position, image_id in enumerate(ranking, start=1):
        if image_id in relevant:
            return float(position)
    return math.inf


def average_precision(ranking: Sequence[str], relevant: Collection[str], depth: int) -> float:
    """AP over the first ``depth`` results, normalised by min(|relevant|, depth)."""
    if not relevant:
        raise ValueError("a query needs at least one relevant image")
    hits, total = 0, 0.0
    for position, image_id in enumerate(ranking[:depth], start=1):
        if image_id in relevant:
            hits += 1
            total += hits / position
    return total / min(len(relevant), depth)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    low, high = ordered[mid - 1], ordered[mid]
    return high if math.isinf(high) else (low + high) / 2


def evaluate_rankings(
    rankings: Sequence[Sequence[str]],
    relevant: Sequence[Collection[str]],
    *,
    ks: Sequence[int] = DEFAULT_KS,
    depth: int = 100,
) -> QualityReport:
    """Recall@k for each k, median first-relevant rank and mean AP@depth over all queries."""
    if len(rankings) != len(relevant):
        raise ValueError(f"{len(rankings)} rankings for {len(relevant)} queries")
    if not rankings:
        raise ValueError("no queries to evaluate")
    for ranking in rankings:
        if len(set(ranking)) != len(ranking):
            raise ValueError("a ranking lists an image more than once; merge rows per image first")
    ranks = [first_relevant_rank(r, rel) for r, rel in zip(rankings, relevant, strict=True)]
    n = len(rankings)
    return QualityReport(
        queries=n,
        recall={k: sum(rank <= k for rank in ranks) / n for k in ks},
        median_rank=median(ranks),
        mean_ap=sum(average_precision(r, rel, depth) for r, rel in zip(rankings, relevant, strict=True)) / n,
        mean_results=sum(len(r) for r in rankings) / n,
        ranks=tuple(ranks),
    )


def merge_rows(rows: Sequence[tuple[str, float]], limit: int) -> list[tuple[str, float]]:
    """Rows (image id, score), best first, with several rows per image -> each image once at its best
    score (max-similarity over its captions), at most ``limit`` images."""
    seen: set[str] = set()
    merged: list[tuple[str, float]] = []
    for image_id, score in rows:
        if image_id not in seen:
            seen.add(image_id)
            merged.append((image_id, score))
            if len(merged) == limit:
                break
    return merged


@dataclass(frozen=True)
class RecallRatio:
    ratio: float  # Recall@k of a system over Recall@k of a reference on the same queries
    low: float  # the central ``confidence`` interval of the ratio over bootstrap resamples of the queries
    high: float


def recall_ratio(
    ranks: Sequence[float],
    reference_ranks: Sequence[float],
    *,
    k: int = 10,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> RecallRatio:
    """Recall@k of ``ranks`` relative to ``reference_ranks`` (first relevant ranks of the same queries,
    in the same order), with a paired bootstrap interval: with few queries one query moves the ratio by
    several points, and the interval says how far."""
    import numpy as np

    if len(ranks) != len(reference_ranks) or not ranks:
        raise ValueError(f"need the same queries on both sides, got {len(ranks)} and {len(reference_ranks)}")
    hits = np.asarray(ranks, dtype=np.float64) <= k  # (Q,)
    reference = np.asarray(reference_ranks, dtype=np.float64) <= k  # (Q,)
    if not reference.any():
        raise ValueError(f"the reference finds nothing in the top {k}: no ratio")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(hits), size=(resamples, len(hits)))  # (S, Q)
    found, possible = hits[picks].sum(axis=1), reference[picks].sum(axis=1)  # (S,), (S,)
    ratios = found[possible > 0] / possible[possible > 0]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return RecallRatio(float(hits.sum() / reference.sum()), float(low), float(high))
