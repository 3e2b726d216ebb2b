"""How a query is searched: the service's planning step, pure (no I/O).

The plan options (strategy and its knobs), what the service knows about the bundle version (its live
row count, whether its ANN index exists), the query's reduced vector and the bundle's centroids go in;
a ``SearchPlan`` that ``index_reader.search_index`` runs comes out. The rules:
  - a version with fewer live rows than ``exact_below`` (and at least one) is searched exactly: a few ms
    at that size (docs/scale.md), and no recall lost;
  - an ANN strategy (hnsw, ivfflat) whose index is missing (still building, or never built) routes
    through the K-means clusters instead, so latency stays bounded;
  - cluster routing ranks the rows of the ``nprobe`` centroids nearest the query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.space import nearest_clusters
from core.vector_index import DEFAULT_STORAGE, DEFAULT_STRATEGY, Strategy, VectorStorage

DEFAULT_NPROBE = 8
DEFAULT_EF_SEARCH = 100
DEFAULT_EXACT_BELOW = 10_000  # exact search costs ~6 ms at 10k rows (docs/scale.md) and loses nothing
MAX_NPROBE = 32_768  # pgvector's limit on ivfflat.probes; more than the clusters routes to all of them
MAX_EF_SEARCH = 1_000  # pgvector's limit on hnsw.ef_search
# A filtered query's true neighbours lie further out than an unfiltered one's: IVFFlat and cluster routing
# probe this many times more lists. recall@10 >= 0.95 at 1 %, 10 % and 50 % selectivity at 100k rows
# needed 64 probes at 1 % where 8 gave 0.82 (docs/filters.md); HNSW's iterative scan needs no factor.
FILTERED_PROBE_FACTOR = 8


@dataclass(frozen=True)
class PlanOptions:
    """The configured way to search; a ``SearchService.search`` call may pass its own."""

    strategy: Strategy = DEFAULT_STRATEGY
    nprobe: int = DEFAULT_NPROBE  # clusters routed to (clusters) or lists probed (ivfflat)
    ef_search: int = DEFAULT_EF_SEARCH  # the candidate list of an HNSW search
    exact_below: int = DEFAULT_EXACT_BELOW  # a version with fewer live rows is searched exactly; 0: never

    def __post_init__(self) -> None:
        if not 1 <= self.nprobe <= MAX_NPROBE:
            raise ValueError(f"nprobe must be between 1 and {MAX_NPROBE}, got {self.nprobe}")
        if not 1 <= self.ef_search <= MAX_EF_SEARCH:
            raise ValueError(f"ef_search must be between 1 and {MAX_EF_SEARCH}, got {self.ef_search}")
        if self.exact_below < 0:
            raise ValueError(f"exact_below must be at least 0, got {self.exact_below}")


@dataclass(frozen=True)
class VersionFacts:
    """What the planner needs to know about the bundle version being searched."""

    rows: int  # its rows in the database now, including those written since the bundle was published
    ann_index: bool  # whether the index of the strategy's vector index method exists (ANN strategies only)


@dataclass(frozen=True)
class SearchPlan:
    """One query's search, as ``index_reader.search_index`` runs it."""

    strategy: Strategy
    clusters: tuple[int, ...] = field(default=())  # for CLUSTERS: the clusters whose rows are ranked
    probes: int = DEFAULT_NPROBE  # for CLUSTERS (how many were routed to) and IVFFLAT (lists probed)
    ef_search: int = DEFAULT_EF_SEARCH  # for HNSW
    storage: VectorStorage = DEFAULT_STORAGE  # for HNSW and IVFFLAT: what the version's index is built on


def choose_strategy(options: PlanOptions, facts: VersionFacts) -> Strategy:
    """The strategy a query of this version is searched with under ``options``."""
    if 0 < facts.rows < options.exact_below:
        return Strategy.EXACT
    if options.strategy.vector_index is not None and not facts.ann_index:
        return Strategy.CLUSTERS
    return options.strategy


def plan_search(
    options: PlanOptions,
    facts: VersionFacts,
    query: np.ndarray,
    centroids: np.ndarray,
    nprobe: int | None = None,
    *,
    filtered: bool = False,
    storage: VectorStorage = DEFAULT_STORAGE,
) -> SearchPlan:
    """The plan of one query: ``query`` is its (d,) unit vector in the bundle's reduced space,
    ``centroids`` the bundle's (C, d) K-means centroids; ``nprobe``, when given, wins over the options'.
    ``filtered``: the query keeps only some rows, so lists and clusters are probed FILTERED_PROBE_FACTOR
    times as widely. ``storage``: the bundle's ``vector_storage``, what its ANN index is built on."""
    probes = options.nprobe if nprobe is None else nprobe
    if not 1 <= probes <= MAX_NPROBE:
        raise ValueError(f"nprobe must be between 1 and {MAX_NPROBE}, got {probes}")
    if filtered:
        probes = min(probes * FILTERED_PROBE_FACTOR, MAX_NPROBE)
    strategy = choose_strategy(options, facts)
    clusters: tuple[int, ...] = ()
    if strategy is Strategy.CLUSTERS:
        clusters = tuple(int(c) for c in nearest_clusters(query, centroids, probes)[0])
    return SearchPlan(strategy, clusters, probes, options.ef_search, storage)
