"""Hybrid ranking: the semantic neighbours of a query re-ranked with its full-text rank, and cut off.

``blend`` is pure; ``rank_images`` runs the searches of index_reader.py and blends them. The score of
an image is ``(1 - w) * cosine + w * text_rank / best_text_rank`` where the best text rank is the
query's best; an image with no word in common with the query keeps only its cosine part. Only the
semantic top ``pool`` are candidates, so the full-text work per query is bounded: letting every
full-text match compete too gave the same recall at many times the cost. The answer gate and floor
are by default the bundle's own (``auto``: calibrated on its corpus when it was published,
indexing/calibrate.py); a bundle published without a calibration falls back to the fixed defaults
below, tuned on openclipart. The defaults and their trade-offs are measured in docs/quality.md and
docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

import numpy as np

from core.bundle import SearchBundle
from core.database import Connection
from function_app.filters import SearchFilters
from function_app.index_reader import IndexedImage, SearchPlan, search_index, text_ranks

DEFAULT_TEXT_WEIGHT = 0.2
# The fixed gate and floor, for bundles published without a calibration (tuned on openclipart).
DEFAULT_MIN_SIMILARITY = 0.3
DEFAULT_ANSWER_SIMILARITY = 0.6
DEFAULT_POOL = 50
AUTO: Final = "auto"  # a threshold taken from the bundle's calibrated gate
Threshold = float | Literal["auto"] | None  # a cosine, the bundle's own, or None: no threshold


@dataclass(frozen=True)
class RankingOptions:
    text_weight: float = DEFAULT_TEXT_WEIGHT  # 0: cosine similarity only, no full-text search
    # Images below this cosine are dropped unless they share a word with the query, so a query that
    # means nothing to the index returns few or no results instead of always k. None: keep all.
    min_similarity: Threshold = AUTO
    # A query is answered at all only when some candidate reaches this cosine or shares a word with it;
    # then min_similarity (lower) filters the rest. None: no such gate.
    answer_similarity: Threshold = AUTO
    pool: int = DEFAULT_POOL  # semantic candidates re-ranked (at least k)
    # With the calibrated gate ("auto"), a query written in words the encoder knows (core/vocabulary.py)
    # is answered whatever its cosine; the margin then decides only for the others. False: the margin
    # decides for every query.
    answer_in_words: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.text_weight <= 1.0:
            raise ValueError(f"text weight must be between 0 and 1, got {self.text_weight}")
        if self.pool < 1:
            raise ValueError(f"pool must be at least 1, got {self.pool}")
        for name in ("min_similarity", "answer_similarity"):
            value = getattr(self, name)
            if isinstance(value, str) and value != AUTO:
                raise ValueError(f"{name} must be a cosine, {AUTO!r} or None, got {value!r}")

    def without_cutoff(self) -> RankingOptions:
        """The same ranking, keeping every candidate."""
        return replace(self, min_similarity=None, answer_similarity=None)

    def resolved(self, bundle: SearchBundle, query: np.ndarray, *, in_words: bool = False) -> RankingOptions:
        """These options for one query, the (d,) unit vector in ``bundle``'s space: each ``auto``
        threshold taken from the bundle's calibrated gate, or from the fixed defaults when it has none.
        ``in_words``: the query's text is language (core/vocabulary.py), so the calibrated gate answers it
        when ``answer_in_words`` is set."""
        floor, answer = self.min_similarity, self.answer_similarity
        gate, probes = bundle.gate, bundle.probes
        if floor == AUTO:  # a calibrated gate may have no floor
            floor = DEFAULT_MIN_SIMILARITY if gate is None else gate.min_similarity
        if answer == AUTO:
            if gate is None or probes is None:
                answer = DEFAULT_ANSWER_SIMILARITY
            elif in_words and self.answer_in_words:
                answer = None
            else:
                answer = gate.answer_similarity(query, probes)
        return replace(self, min_similarity=floor, answer_similarity=answer)


def _fixed(threshold: Threshold) -> float | None:
    if isinstance(threshold, str):
        raise ValueError(f"an {AUTO!r} threshold must be resolved with the bundle's gate before ranking")
    return threshold


@dataclass(frozen=True)
class RankedImage:
    image: IndexedImage
    score: float  # the blended score; image.similarity is the cosine, image.text_rank the full-text rank


def blend(
    semantic: Sequence[IndexedImage], lexical: Sequence[IndexedImage], k: int, options: RankingOptions
) -> list[RankedImage]:
    """Top ``k`` of the candidates by blended score (ties by image id); ``lexical`` holds those of them
    (or others) that share a word with the query, with their text rank."""
    candidates = {image.image_id: image for image in semantic}
    candidates.update((image.image_id, image) for image in lexical)  # these know their text rank
    best_rank = max((image.text_rank for image in lexical), default=0.0)
    gate, floor = _fixed(options.answer_similarity), _fixed(options.min_similarity)
    if gate is not None and best_rank <= 0 and all(image.similarity < gate for image in candidates.values()):
        return []  # nothing reaches the gate and nothing shares a word: the query means nothing here
    weight = options.text_weight if best_rank > 0 else 0.0
    ranked = []
    for image in candidates.values():
        if floor is not None and image.similarity < floor and image.text_rank <= 0:
            continue
        text_part = image.text_rank / best_rank if best_rank > 0 else 0.0
        ranked.append(RankedImage(image, (1 - weight) * image.similarity + weight * text_part))
    ranked.sort(key=lambda r: (-r.score, r.image.image_id))
    return ranked[:k]


def rank_images(
    conn: Connection,
    version: str,
    query: np.ndarray,
    text: str,
    k: int,
    plan: SearchPlan,
    options: RankingOptions,
    filters: SearchFilters | None = None,
) -> list[RankedImage]:
    """Rank ``version``'s images for a query given as its reduced unit vector and its text; ``options``
    must be resolved (no ``auto`` threshold). ``filters``: only the images they keep are candidates."""
    depth = max(k, options.pool)
    semantic = search_index(conn, version, query, depth, plan, filters)
    if options.text_weight <= 0:
        return blend(semantic, [], k, options)
    ranks = text_ranks(conn, version, text, [image.image_id for image in semantic])
    lexical = [
        replace(image, text_rank=ranks[image.image_id]) for image in semantic if image.image_id in ranks
    ]
    return blend(semantic, lexical, k, options)
