"""Index captions through the real publishing code and rank them with the service's own code.

An index holds either one row per image embedded as the mean of its captions (what the indexer writes)
or one row per (image, caption) (row id ``<image id>#<j>``), merged per image at max similarity, for
comparison. Rankings come from the search service itself (`SearchService.search` over the index's
bundle version, with a plan and a ranking given per call: its planner, semantic + full-text SQL and
blend), PostgreSQL full-text search over every row (the lexical baseline, and the extra candidates of
the "union" variant; evaluation-only SQL below), or numpy (exact search in the full encoder space, no
PCA and no database).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np

from core.bundle import SearchBundle, load_bundle
from core.database import Connection, ConnectionPool
from core.env import EnvReader
from core.images import ImageNotFound, ImageRef
from core.space import normalize_rows, project
from core.tags import ImageTags
from core.text_encoder import TOKENIZER_FILE, OnnxSentenceEncoder
from core.vector_index import Strategy
from core.vocabulary import Vocabulary
from evaluation.metrics import merge_rows
from function_app.bundles import LoadedBundle, PinnedBundle
from function_app.index_reader import (
    IMAGE_TERMS,
    QUERY_LEXEMES_CTE,
    IndexedImage,
    SearchPlan,
    indexed_image,
    search_index,
)
from function_app.planner import PlanOptions
from function_app.ranking import RankingOptions, blend
from function_app.service import SearchService
from function_app.settings import SearchSettings
from indexing.stages import encode_groups, mix_tags
from indexing.tagging.tagger import DEFAULT_TAG_WEIGHT
from indexing.versions import CaptionedImage, build_index

Ranking = list[tuple[str, float]]  # (image id, score), best first, each image once
SEMANTIC_ONLY = RankingOptions(text_weight=0.0).without_cutoff()
SERVICE_DEFAULTS = SearchSettings.from_env(EnvReader({}))  # the service with no SEARCH_* variables set

# Every row sharing a word with the query (an OR of its lexemes over all of an image's captions), best
# ts_rank_cd first, with its cosine. It parses every row of the version: fine for an evaluation split,
# far too slow for the service (docs/benchmarks.md), which ranks only its semantic candidates.
_TEXT_SEARCH = (
    QUERY_LEXEMES_CTE
    + f""", matches AS (
    SELECT image_id, name, caption, alternatives, tags, embedding,
        ts_rank_cd({IMAGE_TERMS}, q.query, 32) AS rank
    FROM images, q
    WHERE bundle_version = %(version)s AND q.query IS NOT NULL AND {IMAGE_TERMS} @@ q.query
    ORDER BY rank DESC, image_id
    LIMIT %(k)s
)
SELECT image_id, name, caption, alternatives, tags, 1 - (embedding <=> %(query)s) AS similarity, rank
FROM matches
ORDER BY rank DESC, image_id
"""
)


@dataclass(frozen=True)
class CaptionIndex:
    version: str
    bundle: SearchBundle
    row_ids: list[str]
    embeddings: np.ndarray  # (R, D) full encoder vectors of the rows, for exact search without PCA
    rows_per_image: int  # the most rows any image has

    def reduce(self, queries: np.ndarray) -> np.ndarray:
        """Queries (Q, D) in encoder space -> (Q, d) unit vectors in this index's reduced space."""
        return project(queries, self.bundle.pca_mean, self.bundle.pca_components)


def image_of(row_id: str) -> str:
    return row_id.rsplit("#", 1)[0]


def build_caption_index(
    conn: Connection,
    share: Path,
    encoder_dir: Path,
    encoder: OnnxSentenceEncoder,
    captions: Mapping[str, Sequence[str]],
    *,
    scores: Mapping[str, Sequence[float]] | None = None,
    row_per_caption: bool = False,
    tags: Mapping[str, ImageTags] | None = None,
) -> CaptionIndex:
    """Encode, fit PCA + K-means, store and publish the captions like the indexer does.

    One row per image with all its captions (the first is shown, the others are alternatives), embedded
    as their normalised mean, weighted by their beam ``scores`` where given; ``row_per_caption`` stores
    each caption as its own row instead. ``tags`` (image id -> its tags) are stored with each image's
    row and mixed into its embedding as the indexer does (``stages.mix_tags`` at its default weight).
    """
    if row_per_caption:
        rows = [
            CaptionedImage(f"{image_id}#{j}", image_id, text, "evaluation")
            for image_id, texts in captions.items()
            for j, text in enumerate(texts)
        ]
        embeddings = encoder.encode([row.caption for row in rows])  # (R, D)
    else:
        image_tags = [() if tags is None else tags[i] for i in captions]
        rows = [
            CaptionedImage(f"{i}#0", i, texts[0], "evaluation", tuple(texts[1:]), tags=found)
            for (i, texts), found in zip(captions.items(), image_tags, strict=True)
        ]
        embeddings = encode_groups(
            encoder, list(captions.values()), scores=None if scores is None else [scores[i] for i in captions]
        )
        embeddings = mix_tags(embeddings, encoder, image_tags, DEFAULT_TAG_WEIGHT)
    version = build_index(rows, conn=conn, share=share, encoder_dir=encoder_dir, embeddings=embeddings)
    return CaptionIndex(
        version,
        load_bundle(share, version),
        [row.image_id for row in rows],
        embeddings,
        max(len(texts) for texts in captions.values()) if row_per_caption else 1,
    )


class GivenQueries:
    """A query encoder that answers from the vectors the evaluation encoded in one batch beforehand:
    every system then ranks the very same query vectors (the numpy baseline included), and none pays
    for encoding the queries again."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        # Keyed as the service asks: by the query with its whitespace collapsed (service.clean_query).
        self._vectors = {" ".join(text.split()): vector for text, vector in zip(texts, vectors, strict=True)}

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        return np.stack([self._vectors[text] for text in sentences])  # (N, D)


class _NoImages:
    """The evaluation ranks image ids; it links no pictures."""

    location = "none"

    def list_images(self, prefix: str = "") -> Iterator[ImageRef]:
        return iter(())

    def read(self, name: str) -> bytes:
        raise ImageNotFound(f"the evaluation reads no images: {name!r}")

    def url(self, name: str) -> str:
        return ""


@cache
def _vocabulary(encoder_dir: Path) -> Vocabulary:
    """The gate's vocabulary of an encoder folder, read once for the many services built over one bundle."""
    return Vocabulary.from_file(encoder_dir / TOKENIZER_FILE)


def index_service(
    conn: Connection, index: CaptionIndex, texts: Sequence[str], queries: np.ndarray, k: int
) -> SearchService:
    """The search service with its default settings over ``index``'s bundle version (pinned: each
    index published since is the share's CURRENT one), on ``conn``, for the queries ``texts`` already
    encoded as ``queries`` (Q, D). It accepts ``k`` and queries of any length: the API's limits are
    not what is measured."""
    settings = replace(
        SERVICE_DEFAULTS,
        max_k=max(SERVICE_DEFAULTS.max_k, k),
        max_query_chars=max([SERVICE_DEFAULTS.max_query_chars, *(len(text) for text in texts)]),
    )
    loaded = LoadedBundle(index.bundle, GivenQueries(texts, queries), _vocabulary(index.bundle.encoder_dir))
    return SearchService(
        PinnedBundle(loaded), ConnectionPool(lambda: conn, max_size=1), _NoImages(), settings
    )


def service_rankings(
    conn: Connection,
    index: CaptionIndex,
    queries: np.ndarray,
    texts: Sequence[str],
    depth: int,
    plan: PlanOptions | None = None,
    ranking: RankingOptions = SEMANTIC_ONLY,
) -> list[Ranking]:
    """Queries (Q, D) in encoder space and their texts -> rankings by the search service, planned with
    ``plan`` (None: the service's default plan) and ranked with ``ranking``. Each search asks for
    ``depth`` rows per image the index may hold, merged per image."""
    k = depth * index.rows_per_image
    service = index_service(conn, index, texts, queries, k)
    out = []
    for text in texts:
        result = service.search(text, k, plan=plan, ranking=ranking)
        out.append(merge_rows([(image_of(hit.image_id), hit.score) for hit in result.hits], depth))
    return out


def service_strategy(conn: Connection, index: CaptionIndex) -> Strategy:
    """The strategy the service's default plan searches ``index`` with."""
    return index_service(conn, index, [], np.zeros((0, 0), dtype=np.float32), 1).strategy_in_use()


def exact_full_rankings(index: CaptionIndex, queries: np.ndarray, depth: int) -> list[Ranking]:
    """Brute-force cosine in the full encoder space: no PCA, no clusters, no database."""
    rows = normalize_rows(index.embeddings)
    similarity = normalize_rows(queries) @ rows.T  # (Q, R)
    out = []
    for scores in similarity:
        order = np.argsort(-scores, kind="stable")[: depth * index.rows_per_image]
        out.append(merge_rows([(image_of(index.row_ids[i]), float(scores[i])) for i in order], depth))
    return out


def text_search(conn: Connection, version: str, text: str, query: np.ndarray, k: int) -> list[IndexedImage]:
    """Up to ``k`` rows sharing a word with ``text``, best full-text rank first, with their cosine."""
    with conn.cursor() as cur:
        cur.execute(
            _TEXT_SEARCH,
            {"text": text, "query": np.asarray(query, dtype=np.float32), "version": version, "k": k},
        )
        rows = cur.fetchall()
    return [indexed_image(row[:6], text_rank=float(row[6])) for row in rows]


def lexical_rankings(
    conn: Connection, index: CaptionIndex, queries: np.ndarray, texts: Sequence[str], depth: int
) -> list[Ranking]:
    """Full-text search alone: only images whose captions share a word with the query."""
    reduced = index.reduce(queries)
    out = []
    for vector, text in zip(reduced, texts, strict=True):
        found = text_search(conn, index.version, text, vector, depth * index.rows_per_image)
        out.append(merge_rows([(image_of(r.image_id), r.text_rank) for r in found], depth))
    conn.commit()
    return out


def union_rankings(
    conn: Connection,
    index: CaptionIndex,
    queries: np.ndarray,
    texts: Sequence[str],
    depth: int,
    options: RankingOptions,
) -> list[Ranking]:
    """The service's blend over exact search, but every full-text match competes too, not just the
    semantic candidates."""
    reduced = index.reduce(queries)
    exact = SearchPlan(Strategy.EXACT)
    out = []
    for vector, text in zip(reduced, texts, strict=True):
        semantic = search_index(conn, index.version, vector, depth, exact)
        lexical = text_search(conn, index.version, text, vector, depth)
        ranked = blend(semantic, lexical, depth, options)
        out.append(merge_rows([(image_of(r.image.image_id), r.score) for r in ranked], depth))
    conn.commit()
    return out
