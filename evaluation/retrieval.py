"""Index captions through the real publishing code and rank them the ways the evaluation compares.

Every image may have several caption rows (row id ``<image id>#<j>``); rankings merge them per image
with max-similarity. Semantic search runs the service's own SQL (`function_app.index_reader`); the
lexical and hybrid rankings are evaluation-only SQL against the same `images` table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.metrics import merge_rows
from function_app.index_reader import SearchPlan, search_index
from indexing.bundle import SearchBundle, load_bundle
from indexing.database import Connection
from indexing.publish import CaptionedImage, build_index
from indexing.space import nearest_clusters, normalize_rows, project
from indexing.text_encoder import OnnxSentenceEncoder

Ranking = list[tuple[str, float]]  # (image id, score), best first, each image once

# OR of the query's lexemes, so a long query still matches captions that share one word with it;
# ts_rank_cd with normalisation 32 maps the rank into [0, 1).
_LEXICAL_SEARCH = """
WITH q AS (
    SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS query
    FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS lexeme
)
SELECT image_id, ts_rank_cd(to_tsvector('english', caption), q.query, 32) AS rank
FROM images, q
WHERE bundle_version = %(version)s AND q.query IS NOT NULL
  AND to_tsvector('english', caption) @@ q.query
ORDER BY rank DESC, image_id
LIMIT %(k)s
"""


@dataclass(frozen=True)
class CaptionIndex:
    version: str
    bundle: SearchBundle
    row_ids: list[str]
    embeddings: np.ndarray  # (R, D) full encoder vectors of the rows, for exact search without PCA
    rows_per_image: int  # the most caption rows any image has


def image_of(row_id: str) -> str:
    return row_id.rsplit("#", 1)[0]


def build_caption_index(
    conn: Connection,
    share: Path,
    encoder_dir: Path,
    encoder: OnnxSentenceEncoder,
    captions: Mapping[str, Sequence[str]],
    *,
    pooled: bool = False,
) -> CaptionIndex:
    """Encode, fit PCA + K-means, store and publish one row per (image, caption), like the indexer.

    ``pooled`` stores one row per image instead, embedded as the normalised mean of its captions.
    """
    if pooled:
        rows = [CaptionedImage(f"{i}#0", i, texts[0], "evaluation") for i, texts in captions.items()]
        embeddings = np.stack(
            [normalize_rows(encoder.encode(list(t))).mean(axis=0) for t in captions.values()]
        )
        embeddings = normalize_rows(embeddings)
    else:
        rows = [
            CaptionedImage(f"{image_id}#{j}", image_id, text, "evaluation")
            for image_id, texts in captions.items()
            for j, text in enumerate(texts)
        ]
        embeddings = encoder.encode([row.caption for row in rows])  # (R, D)
    version = build_index(rows, conn=conn, share=share, encoder_dir=encoder_dir, embeddings=embeddings)
    return CaptionIndex(
        version,
        load_bundle(share, version),
        [row.image_id for row in rows],
        embeddings,
        1 if pooled else max(len(texts) for texts in captions.values()),
    )


def semantic_rankings(
    conn: Connection, index: CaptionIndex, queries: np.ndarray, depth: int, plan: SearchPlan
) -> list[Ranking]:
    """Queries (Q, D) in encoder space -> rankings from the database with the given strategy."""
    bundle = index.bundle
    reduced = project(queries, bundle.pca_mean, bundle.pca_components)  # (Q, d)
    out = []
    for vector in reduced:
        query_plan = plan
        if plan.strategy == "clusters":  # route like the service: probes = the nearest clusters to rank
            nearest = nearest_clusters(vector, bundle.centroids, plan.probes)[0]
            query_plan = SearchPlan("clusters", clusters=[int(c) for c in nearest])
        rows = search_index(conn, index.version, vector, depth * index.rows_per_image, query_plan)
        conn.commit()
        out.append(merge_rows([(image_of(r.image_id), r.score) for r in rows], depth))
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


def lexical_rankings(conn: Connection, version: str, texts: Sequence[str], depth: int) -> list[Ranking]:
    """PostgreSQL full-text search over the version's captions; only captions sharing a word match."""
    out = []
    with conn.cursor() as cur:
        for text in texts:
            cur.execute(_LEXICAL_SEARCH, {"text": text, "version": version, "k": depth * 8})
            rows = [(image_of(image_id), float(rank)) for image_id, rank in cur.fetchall()]
            out.append(merge_rows(rows, depth))
    conn.commit()
    return out


def hybrid_rankings(semantic: Sequence[Ranking], lexical: Sequence[Ranking], weight: float) -> list[Ranking]:
    """Mix per query: (1 - weight) * cosine + weight * full-text rank scaled so the query's best is 1.

    An image only the lexical list found gets the lowest cosine of the semantic list (its cosine is at
    most that, the semantic list being the top by cosine).
    """
    out = []
    for sem, lex in zip(semantic, lexical, strict=True):
        cosine = dict(sem)
        floor = min(cosine.values(), default=0.0)
        best_lex = max((score for _, score in lex), default=0.0) or 1.0
        lexical_score = {image_id: score / best_lex for image_id, score in lex}
        mixed = {
            image_id: (1 - weight) * cosine.get(image_id, floor) + weight * lexical_score.get(image_id, 0.0)
            for image_id in cosine.keys() | lexical_score.keys()
        }
        ranked = sorted(mixed.items(), key=lambda item: (-item[1], item[0]))
        out.append(ranked[: len(sem) or len(ranked)])
    return out


def apply_cutoff(rankings: Sequence[Ranking], threshold: float) -> list[Ranking]:
    """Drop results whose score is below ``threshold`` (a relevance cutoff)."""
    return [[(image_id, score) for image_id, score in ranking if score >= threshold] for ranking in rankings]
