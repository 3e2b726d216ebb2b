"""The query path as a plain service: text in, ranked images out. Never imports azure.functions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from function_app.errors import InvalidRequest, ServiceUnavailable
from function_app.index_reader import search_index
from function_app.models import BundleProvider
from indexing.database import ConnectionPool, DatabaseUnavailable
from indexing.images import ImageStore
from indexing.space import nearest_clusters, project
from indexing.store import count_images


@dataclass(frozen=True)
class SearchHit:
    image_id: str
    name: str
    caption: str
    score: float
    url: str


@dataclass(frozen=True)
class SearchResult:
    query: str
    k: int
    nprobe: int | None  # None: exact search over every row
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
    """Encode a query, route it to its nearest clusters and rank their members in pgvector."""

    def __init__(
        self,
        bundles: BundleProvider,
        pool: ConnectionPool,
        images: ImageStore,
        *,
        nprobe: int,
        max_k: int,
        max_query_chars: int,
    ) -> None:
        self._bundles = bundles
        self._pool = pool
        self._images = images
        self.nprobe = nprobe
        self.max_k = max_k
        self.max_query_chars = max_query_chars

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
        clusters = None if exact else nearest_clusters(vector, bundle.centroids, probes)[0].tolist()
        assigned = time.perf_counter()
        try:
            with self._pool.connection() as conn:
                rows = search_index(conn, bundle.version, vector, k, clusters)
        except DatabaseUnavailable as exc:
            raise ServiceUnavailable(f"the search database is unavailable: {exc}") from exc
        queried = time.perf_counter()
        hits = [
            SearchHit(r.image_id, r.name, r.caption, round(r.score, 4), self._images.url(r.name))
            for r in rows
        ]
        finished = time.perf_counter()
        return SearchResult(
            query=text,
            k=k,
            nprobe=None if exact else min(probes, bundle.cluster_count),
            bundle_version=bundle.version,
            hits=hits,
            timing_ms={
                "encode": round((encoded - started) * 1000, 2),
                "assign": round((assigned - encoded) * 1000, 2),
                "database": round((queried - assigned) * 1000, 2),
                "total": round((finished - started) * 1000, 2),
            },
        )

    def health(self) -> dict[str, Any]:
        """Bundle version, row count and database reachability; ``status`` is "ok" only if all are."""
        report: dict[str, Any] = {"status": "ok"}
        version = None
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
            report["database"] = {"reachable": True, "rows": rows}
        except DatabaseUnavailable as exc:
            report["status"] = "unavailable"
            report["database"] = {"reachable": False, "error": str(exc)}
        return report
