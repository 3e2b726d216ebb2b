"""The query path as a plain service: text in, ranked images out. Never imports azure.functions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from core.bundle import SearchBundle
from core.database import Connection, ConnectionPool, DatabaseUnavailable
from core.images import ImageStore
from core.space import nearest_clusters, project
from function_app.bundles import BundleProvider
from function_app.errors import InvalidRequest, ServiceUnavailable
from function_app.index_reader import SearchPlan, ann_index_exists, count_images
from function_app.ranking import rank_images
from function_app.settings import SearchSettings

_ANN_RECHECK_SECONDS = 30.0


@dataclass(frozen=True)
class SearchHit:
    image_id: str
    name: str
    caption: str
    alternatives: tuple[str, ...]  # the captioner's other captions of the image
    score: float  # the blended score the results are ordered by
    similarity: float  # cosine similarity of the query and the image's captions
    text_match: bool  # whether a caption shares a word with the query
    url: str


@dataclass(frozen=True)
class SearchResult:
    query: str
    k: int
    strategy: str  # how the rows were ranked: hnsw, ivfflat, clusters or exact
    nprobe: int | None  # clusters or lists probed (clusters, ivfflat), else None
    bundle_version: str
    hits: list[SearchHit]
    timing_ms: dict[str, float] = field(default_factory=dict)


def clean_query(raw: str | None, max_chars: int) -> str:
    """Collapse whitespace and check length; InvalidRequest says what is allowed."""
    if raw is None:
        raise InvalidRequest("missing query: pass it as q, e.g. /api/search?q=a+dog+on+a+beach")
    text = " ".join(raw.split())
    if not text:
        raise InvalidRequest("query must not be empty")
    if len(text) > max_chars:
        raise InvalidRequest(f"query is too long: {len(text)} characters, the limit is {max_chars}")
    return text


class SearchService:
    """Encode a query, reduce it with the bundle's PCA and rank the active version's rows in pgvector.

    ``strategy`` picks how (see index_reader.py). Bundles of fewer than ``exact_below`` images are
    searched exactly (a few ms at that size, and no recall lost). While a version's ANN index is missing
    (still building, or never built) the service routes through the K-means clusters instead, so
    latency stays bounded; the ``strategy`` field of each result says what was used. ``ranking`` mixes
    in full-text matches and drops weak results (ranking.py).
    """

    def __init__(
        self, bundles: BundleProvider, pool: ConnectionPool, images: ImageStore, options: SearchSettings
    ) -> None:
        self._bundles = bundles
        self._pool = pool
        self._images = images
        self.strategy = options.strategy.value
        self.nprobe = options.nprobe
        self.ef_search = options.ef_search
        self.max_k = options.max_k
        self.max_query_chars = options.max_query_chars
        self.exact_below = options.exact_below
        self.ranking = options.ranking
        self._ann_ready: dict[str, float] = {}  # version -> when the index was last seen missing (0: present)

    def search(self, query: str, k: int, nprobe: int | None = None, *, exact: bool = False) -> SearchResult:
        """Top ``k`` images for ``query``. ``exact`` ranks every row (slow; for evaluation)."""
        text = clean_query(query, self.max_query_chars)
        if not 1 <= k <= self.max_k:
            raise InvalidRequest(f"k must be between 1 and {self.max_k}, got {k}")
        probes = self.nprobe if nprobe is None else nprobe
        if probes < 1:
            raise InvalidRequest(f"nprobe must be at least 1, got {probes}")

        started = time.perf_counter()
        loaded = self._bundles.get()
        bundle = loaded.bundle
        embedding = loaded.encoder.encode([text])  # (1, D)
        encoded = time.perf_counter()
        vector = project(embedding, bundle.pca_mean, bundle.pca_components)[0]  # (d,)
        assigned = time.perf_counter()
        try:
            with self._pool.connection() as conn:
                strategy = "exact" if exact else self._usable_strategy(conn, bundle)
                clusters: list[int] = []
                if strategy == "clusters":
                    clusters = nearest_clusters(vector, bundle.centroids, probes)[0].tolist()
                    assigned = time.perf_counter()
                plan = SearchPlan(strategy, clusters, probes, self.ef_search)
                ranked = rank_images(conn, bundle.version, vector, text, k, plan, self.ranking)
        except DatabaseUnavailable as exc:
            raise ServiceUnavailable(f"the search database is unavailable: {exc}") from exc
        queried = time.perf_counter()
        hits = [
            SearchHit(
                r.image.image_id,
                r.image.name,
                r.image.caption,
                r.image.alternatives,
                round(r.score, 4),
                round(r.image.score, 4),
                r.image.text_rank > 0,
                self._images.url(r.image.name),
            )
            for r in ranked
        ]
        finished = time.perf_counter()
        return SearchResult(
            query=text,
            k=k,
            strategy=strategy,
            nprobe=min(probes, bundle.cluster_count) if strategy in ("clusters", "ivfflat") else None,
            bundle_version=bundle.version,
            hits=hits,
            timing_ms={
                "encode": round((encoded - started) * 1000, 2),
                "assign": round((assigned - encoded) * 1000, 2),
                "database": round((queried - assigned) * 1000, 2),
                "total": round((finished - started) * 1000, 2),
            },
        )

    def _usable_strategy(self, conn: Connection, bundle: SearchBundle) -> str:
        if 0 < bundle.rows < self.exact_below:
            return "exact"
        if self.strategy not in ("hnsw", "ivfflat"):
            return self.strategy
        version = bundle.version
        missing_since = self._ann_ready.get(version)
        if missing_since == 0.0:
            return self.strategy
        if missing_since is None or time.monotonic() - missing_since > _ANN_RECHECK_SECONDS:
            if ann_index_exists(conn, version, self.strategy):
                self._ann_ready[version] = 0.0
                return self.strategy
            self._ann_ready[version] = time.monotonic()
        return "clusters"

    def health(self) -> dict[str, Any]:
        """Bundle version, row count and database reachability; ``status`` is "ok" only if all are."""
        report: dict[str, Any] = {"status": "ok"}
        version = None
        bundle: SearchBundle | None = None
        try:
            bundle = self._bundles.get().bundle
            version = bundle.version
            report["bundle"] = {
                "ok": True,
                "version": version,
                "encoder": bundle.manifest.get("encoder", {}).get("id"),
                "dimensions": bundle.reduced_dim,
                "clusters": bundle.cluster_count,
            }
        except ServiceUnavailable:
            report["status"] = "unavailable"
            report["bundle"] = {"ok": False, "error": self._bundles.last_error}
        try:
            with self._pool.connection() as conn:
                rows = count_images(conn, version) if version else None
                strategy = self._usable_strategy(conn, bundle) if bundle else None
            report["database"] = {"reachable": True, "rows": rows}
            report["search"] = {"configured": self.strategy, "in_use": strategy}
        except DatabaseUnavailable as exc:
            report["status"] = "unavailable"
            report["database"] = {"reachable": False, "error": str(exc)}
        return report
