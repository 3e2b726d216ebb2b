"""Index captions through the real publishing code and rank them with the service's own code.

An index holds either one row per image embedded as the mean of its captions (what the indexer writes)
or one row per (image, caption) (row id ``<image id>#<j>``), merged per image at max similarity, for
comparison. Rankings come from `function_app.ranking.rank_images` (the service's semantic + full-text
SQL and blend), PostgreSQL full-text search over every row (the lexical baseline, and the extra
candidates of the "union" variant; evaluation-only SQL below), or numpy (exact search in the full
encoder space, no PCA and no database).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.bundle import SearchBundle, load_bundle
from core.database import Connection
from core.space import nearest_clusters, normalize_rows, project
from core.text_encoder import OnnxSentenceEncoder
from evaluation.metrics import merge_rows
from function_app.index_reader import (
    CAPTION_TERMS,
    QUERY_LEXEMES_CTE,
    IndexedImage,
    SearchPlan,
    indexed_image,
    search_index,
)
from function_app.ranking import RankingOptions, blend, rank_images
from indexing.stages import encode_groups
from indexing.versions import CaptionedImage, build_index

Ranking = list[tuple[str, float]]  # (image id, score), best first, each image once
SEMANTIC_ONLY = RankingOptions(text_weight=0.0).without_cutoff()

# Every row sharing a word with the query (an OR of its lexemes over all of an image's captions), best
# ts_rank_cd first, with its cosine. It parses every row of the version: fine for an evaluation split,
# far too slow for the service (docs/benchmarks.md), which ranks only its semantic candidates.
_TEXT_SEARCH = (
    QUERY_LEXEMES_CTE
    + f""", matches AS (
    SELECT image_id, name, caption, alternatives, embedding, ts_rank_cd({CAPTION_TERMS}, q.query, 32) AS rank
    FROM images, q
    WHERE bundle_version = %(version)s AND q.query IS NOT NULL AND {CAPTION_TERMS} @@ q.query
    ORDER BY rank DESC, image_id
    LIMIT %(k)s
)
SELECT image_id, name, caption, alternatives, 1 - (embedding <=> %(query)s) AS score, rank
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
) -> CaptionIndex:
    """Encode, fit PCA + K-means, store and publish the captions like the indexer does.

    One row per image with all its captions (the first is shown, the others are alternatives), embedded
    as their normalised mean, weighted by their beam ``scores`` where given; ``row_per_caption`` stores
    each caption as its own row instead.
    """
    if row_per_caption:
        rows = [
            CaptionedImage(f"{image_id}#{j}", image_id, text, "evaluation")
            for image_id, texts in captions.items()
            for j, text in enumerate(texts)
        ]
        embeddings = encoder.encode([row.caption for row in rows])  # (R, D)
    else:
        rows = [
            CaptionedImage(f"{i}#0", i, texts[0], "evaluation", tuple(texts[1:]))
            for i, texts in captions.items()
        ]
        embeddings = encode_groups(
            encoder, list(captions.values()), scores=None if scores is None else [scores[i] for i in captions]
        )
    version = build_index(rows, conn=conn, share=share, encoder_dir=encoder_dir, embeddings=embeddings)
    return CaptionIndex(
        version,
        load_bundle(share, version),
        [row.image_id for row in rows],
        embeddings,
        max(len(texts) for texts in captions.values()) if row_per_caption else 1,
    )


def service_rankings(
    conn: Connection,
    index: CaptionIndex,
    queries: np.ndarray,
    texts: Sequence[str],
    depth: int,
    plan: SearchPlan,
    options: RankingOptions = SEMANTIC_ONLY,
) -> list[Ranking]:
    """Queries (Q, D) in encoder space and their texts -> rankings by the service's ranking code."""
    bundle = index.bundle
    reduced = index.reduce(queries)  # (Q, d)
    # The service asks each search for max(k, pool) candidates; so does this, with k the depth.
    pool = max(options.pool, depth * index.rows_per_image)
    options = replace(options, pool=pool)
    out = []
    for vector, text in zip(reduced, texts, strict=True):
        query_plan = plan
        if plan.strategy == "clusters":  # route like the service: probes = the nearest clusters to rank
            nearest = nearest_clusters(vector, bundle.centroids, plan.probes)[0]
            query_plan = SearchPlan("clusters", clusters=[int(c) for c in nearest])
        ranked = rank_images(
            conn, index.version, vector, text, depth * index.rows_per_image, query_plan, options
        )
        conn.commit()
        out.append(merge_rows([(image_of(r.image.image_id), r.score) for r in ranked], depth))
    return out


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
    return [indexed_image(row[:5], text_rank=float(row[5])) for row in rows]


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
    plan: SearchPlan,
    options: RankingOptions,
) -> list[Ranking]:
    """The service's blend, but every full-text match competes too, not just the semantic candidates."""
    reduced = index.reduce(queries)
    out = []
    for vector, text in zip(reduced, texts, strict=True):
        semantic = search_index(conn, index.version, vector, depth, plan)
        lexical = text_search(conn, index.version, text, vector, depth)
        ranked = blend(semantic, lexical, depth, options)
        out.append(merge_rows([(image_of(r.image.image_id), r.score) for r in ranked], depth))
    conn.commit()
    return out


def apply_cutoff(rankings: Sequence[Ranking], threshold: float) -> list[Ranking]:
    """Drop results whose score is below ``threshold`` (a relevance cutoff)."""
    return [[(image_id, score) for image_id, score in ranking if score >= threshold] for ranking in rankings]
