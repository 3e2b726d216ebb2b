"""The query path as a plain service: text in, ranked images out. Never imports azure.functions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from core.bundle import SearchBundle
from core.database import Connection, ConnectionPool, DatabaseUnavailable
from core.images import ImageStore
from core.space import project
from core.tags import ImageTags
from core.vector_index import VISUAL_METHOD, Strategy
from core.visual import project_visual
from function_app.bundles import BundleSource
from function_app.errors import InvalidRequest, ServiceUnavailable
from function_app.filters import SearchFilters, Sort
from function_app.index_reader import IndexedImage, count_images
from function_app.planner import PlanOptions, choose_strategy, plan_search
from function_app.ranking import RankingOptions, rank_images
from function_app.settings import SearchSettings
from function_app.similar import find_neighbours
from function_app.version_facts import RECHECK_SECONDS, VersionFactsCache
from function_app.visual_search import search_visual


@dataclass(frozen=True)
class SearchHit:
    image_id: str
    name: str
    caption: str
    alternatives: tuple[str, ...]  # the captioner's other captions of the image
    score: float  # the blended score the results are ordered by
    similarity: float  # cosine similarity of the query and the image's captions
    text_match: bool  # whether a caption or tag shares a word with the query
    url: str
    tags: ImageTags = ()  # (word, confidence), names before generic words: what the picture shows
    taken: datetime | None = field(default=None, kw_only=True)  # when it was taken (indexing/taken.py)
    taken_from: str = field(default="", kw_only=True)  # "exif", "modified"; "": indexed before dates
    text_in_picture: str = ""  # the words OCR read in the picture; '': none read, or OCR off


@dataclass(frozen=True)
class SearchResult:
    query: str
    k: int
    strategy: Strategy  # how the rows were ranked
    nprobe: int | None  # clusters or lists probed (clusters, ivfflat), else None
    bundle_version: str
    hits: list[SearchHit]
    timing_ms: dict[str, float] = field(default_factory=dict)
    sort: Sort = field(default=Sort.RELEVANCE, kw_only=True)  # how the hits are ordered
    route: str = field(default="", kw_only=True)  # a picture's: "visual" or "tags" (picture_query.py)


@dataclass(frozen=True)
class SimilarResult:
    source: SearchHit  # the image the others are similar to
    k: int
    strategy: Strategy
    nprobe: int | None
    bundle_version: str
    hits: list[SearchHit]  # nearest first, the source excluded; score and similarity are the cosine
    timing_ms: dict[str, float] = field(default_factory=dict)


def order_by_date(hits: list[SearchHit], sort: Sort) -> list[SearchHit]:
    """``newest``/``oldest``: the same hits by the time taken, those without one last, ties in
    relevance order; ``relevance``: as they are."""
    if sort is Sort.RELEVANCE:
        return hits
    dated = [(hit.taken, hit) for hit in hits if hit.taken is not None]
    dated.sort(key=lambda pair: pair[0], reverse=sort is Sort.NEWEST)  # stable: ties keep relevance order
    return [hit for _, hit in dated] + [hit for hit in hits if hit.taken is None]


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

    How the rows are ranked is planned per query (planner.py) from the plan options and the version's
    live row count and ANN index, read through a cache (version_facts.py); the ``strategy`` field of
    each result says what was used. ``ranking`` mixes in full-text matches and drops weak results
    (ranking.py), by default at the answer gate and floor calibrated for the bundle in use.
    """

    def __init__(
        self,
        bundles: BundleSource,
        pool: ConnectionPool,
        images: ImageStore,
        options: SearchSettings,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        """``recheck_seconds``: how stale the version's row count and missing ANN index may be."""
        self._bundles = bundles
        self._pool = pool
        self._images = images
        self.plan = options.plan
        self.max_k = options.max_k
        self.max_query_chars = options.max_query_chars
        self.ranking = options.ranking
        self._facts = VersionFactsCache(recheck_seconds)

    def search(
        self,
        query: str,
        k: int,
        nprobe: int | None = None,
        *,
        plan: PlanOptions | None = None,
        ranking: RankingOptions | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        """Top ``k`` images for ``query``. ``nprobe`` overrides the plan's; ``plan`` and ``ranking``
        replace the configured options for this call (the evaluation asks for exact search, say, or
        cosine similarity alone without a cutoff). ``filters``: only the images they keep, in their
        sort order (function_app/filters.py)."""
        filters = filters or SearchFilters()
        text = clean_query(query, self.max_query_chars)
        if not 1 <= k <= self.max_k:
            raise InvalidRequest(f"k must be between 1 and {self.max_k}, got {k}")
        options = self.plan if plan is None else plan
        ranking_options = self.ranking if ranking is None else ranking
        probes = options.nprobe if nprobe is None else nprobe
        if probes < 1:
            raise InvalidRequest(f"nprobe must be at least 1, got {probes}")

        started = time.perf_counter()
        loaded = self._bundles.get()
        bundle = loaded.bundle
        embedding = loaded.encoder.encode([text])  # (1, D)
        encoded = time.perf_counter()
        vector = project(embedding, bundle.pca_mean, bundle.pca_components)[0]  # (d,)
        in_words = loaded.vocabulary is not None and loaded.vocabulary.is_language(text)
        ranking_options = ranking_options.resolved(bundle, vector, in_words=in_words)  # "auto": calibrated
        projected = time.perf_counter()
        try:
            with self._pool.connection() as conn:
                facts = self._facts.facts(conn, bundle.version, options)
                known = time.perf_counter()
                search_plan = plan_search(
                    options,
                    facts,
                    vector,
                    bundle.centroids,
                    probes,
                    filtered=filters.active,
                    storage=bundle.vector_storage,
                )
                planned = time.perf_counter()
                ranked = rank_images(
                    conn, bundle.version, vector, text, k, search_plan, ranking_options, filters
                )
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
                round(r.image.similarity, 4),
                r.image.text_rank > 0,
                self._images.url(r.image.name),
                r.image.tags,
                r.image.text_in_picture,
                taken=r.image.taken,
                taken_from=r.image.taken_from,
            )
            for r in ranked
        ]
        hits = order_by_date(hits, filters.sort)
        finished = time.perf_counter()
        routed = search_plan.strategy in (Strategy.CLUSTERS, Strategy.IVFFLAT)
        return SearchResult(
            sort=filters.sort,
            query=text,
            k=k,
            strategy=search_plan.strategy,
            nprobe=min(search_plan.probes, bundle.cluster_count) if routed else None,
            bundle_version=bundle.version,
            hits=hits,
            timing_ms={
                "encode": round((encoded - started) * 1000, 2),
                "assign": round((projected - encoded + planned - known) * 1000, 2),
                "database": round((known - projected + queried - planned) * 1000, 2),
                "total": round((finished - started) * 1000, 2),
            },
        )

    def similar(
        self, image_id: str, k: int, nprobe: int | None = None, *, plan: PlanOptions | None = None
    ) -> SimilarResult:
        """Top ``k`` images of the active version by cosine similarity to its image ``image_id`` (its
        stored vector), the image itself excluded; NotFound when the version has no such image."""
        if not 1 <= k <= self.max_k:
            raise InvalidRequest(f"k must be between 1 and {self.max_k}, got {k}")
        options = self.plan if plan is None else plan
        probes = options.nprobe if nprobe is None else nprobe
        if probes < 1:
            raise InvalidRequest(f"nprobe must be at least 1, got {probes}")
        started = time.perf_counter()
        bundle = self._bundles.get().bundle
        try:
            with self._pool.connection() as conn:
                facts = self._facts.facts(conn, bundle.version, options)
                found = find_neighbours(
                    conn,
                    bundle.version,
                    image_id,
                    k,
                    lambda vector: plan_search(
                        options, facts, vector, bundle.centroids, probes, storage=bundle.vector_storage
                    ),
                )
                images = [found.source, *found.images]
        except DatabaseUnavailable as exc:
            raise ServiceUnavailable(f"the search database is unavailable: {exc}") from exc

        def hit(image: IndexedImage) -> SearchHit:
            cosine = round(image.similarity, 4)
            return SearchHit(
                image.image_id,
                image.name,
                image.caption,
                image.alternatives,
                cosine,
                cosine,
                False,
                self._images.url(image.name),
                image.tags,
                image.text_in_picture,
                taken=image.taken,
                taken_from=image.taken_from,
            )

        source, *hits = [hit(image) for image in images]
        routed = found.plan.strategy in (Strategy.CLUSTERS, Strategy.IVFFLAT)
        return SimilarResult(
            source=source,
            k=k,
            strategy=found.plan.strategy,
            nprobe=min(found.plan.probes, bundle.cluster_count) if routed else None,
            bundle_version=bundle.version,
            hits=hits,
            timing_ms={**found.timing_ms, "total": round((time.perf_counter() - started) * 1000, 2)},
        )

    def search_picture(self, picture: bytes, k: int, nprobe: int | None = None) -> SearchResult:
        """Top ``k`` images for an uploaded picture (picture_query.py): by its pooled backbone features
        against images.visual where the bundle has a visual PCA (route "visual"), else by its tags
        sentence (route "tags": a bundle fitted on a catalog without visual features). Its ``query`` is
        the tags sentence either way. PictureError (a 4xx) for a body that is not a usable picture."""
        from function_app.picture_query import PICTURE_RANKING, read_picture  # PIL: only when used

        started = time.perf_counter()
        bundle = self._bundles.get().bundle
        read = read_picture(bundle, picture)
        if bundle.visual_components is None:
            result = replace(self.search(read.sentence, k, nprobe, ranking=PICTURE_RANKING), route="tags")
        else:
            result = self._search_visual(read.sentence, read.pooled, bundle, k)
        total = round((time.perf_counter() - started) * 1000, 2)
        return replace(result, timing_ms={**read.timing_ms, **result.timing_ms, "total": total})

    def _search_visual(self, sentence: str, pooled: np.ndarray, bundle: SearchBundle, k: int) -> SearchResult:
        """The visual route: cosine over images.visual (visual_search.py), cosine as the score; through
        the version's visual HNSW index where ``_visual_ef_search`` says so, else exact."""
        if not 1 <= k <= self.max_k:
            raise InvalidRequest(f"k must be between 1 and {self.max_k}, got {k}")
        assert bundle.visual_components is not None
        started = time.perf_counter()
        vector = project_visual(pooled[None], bundle.visual_components)[0]  # (v,)
        projected = time.perf_counter()
        try:
            with self._pool.connection() as conn:
                ef_search = self._visual_ef_search(conn, bundle.version)
                images = search_visual(conn, bundle.version, vector, k, ef_search)
        except DatabaseUnavailable as exc:
            raise ServiceUnavailable(f"the search database is unavailable: {exc}") from exc
        queried = time.perf_counter()
        hits = [
            SearchHit(
                *(image.image_id, image.name, image.caption, image.alternatives),
                *(round(image.similarity, 4), round(image.similarity, 4), False),
                self._images.url(image.name),
                image.tags,
                image.text_in_picture,
                taken=image.taken,
                taken_from=image.taken_from,
            )
            for image in images
        ]
        timing = {
            "assign": round((projected - started) * 1000, 2),
            "database": round((queried - projected) * 1000, 2),
        }
        strategy = Strategy.EXACT if ef_search is None else Strategy.HNSW
        return SearchResult(sentence, k, strategy, None, bundle.version, hits, timing, route="visual")

    def _visual_ef_search(self, conn: Connection, version: str) -> int | None:
        """The HNSW candidate list of a visual search of ``version``, or None to search it exactly: as for
        text, a version under the plan's ``exact_below`` rows, and one whose visual index is missing."""
        if self.plan.exact_below > 0 and self._facts.rows(conn, version) < self.plan.exact_below:
            return None
        return self.plan.ef_search if self._facts.ann_index(conn, version, VISUAL_METHOD) else None

    def strategy_in_use(self) -> Strategy:
        """The strategy a query of the active version is searched with now under the configured plan."""
        version = self._bundles.get().bundle.version
        try:
            with self._pool.connection() as conn:
                facts = self._facts.facts(conn, version, self.plan)
        except DatabaseUnavailable as exc:
            raise ServiceUnavailable(f"the search database is unavailable: {exc}") from exc
        return choose_strategy(self.plan, facts)

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
                # The answer gate calibrated for this corpus at publish time; None: an older bundle.
                "gate": bundle.gate.to_manifest() if bundle.gate is not None else None,
            }
        except ServiceUnavailable:
            report["status"] = "unavailable"
            report["bundle"] = {"ok": False, "error": self._bundles.last_error}
        try:
            with self._pool.connection() as conn:
                rows = count_images(conn, version) if version else None
                facts = self._facts.facts(conn, version, self.plan) if version else None
            in_use = choose_strategy(self.plan, facts).value if facts else None
            report["database"] = {"reachable": True, "rows": rows}
            report["search"] = {"configured": self.plan.strategy.value, "in_use": in_use}
        except DatabaseUnavailable as exc:
            report["status"] = "unavailable"
            report["database"] = {"reachable": False, "error": str(exc)}
        return report
