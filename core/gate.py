"""The answer gate calibrated for a bundle: whether a query means anything to its corpus. Pure numpy.

A query that means nothing (pseudo-words, keyboard noise) still has a nearest image, and on some
corpora its cosine is as high as a real query's (docs/quality.md, "A gate calibrated per bundle"), so
no cosine threshold tells them apart. What does is where the query lies: nonsense lies near other
nonsense. Each bundle ships a fixed set of nonsense probe queries in its reduced space; a query is
answered when its best image beats its ``NEAREST_PROBES`` nearest probes' mean cosine by the bundle's
calibrated margin (indexing/calibrate.py), or shares a word with a caption, or is written in words the
encoder knows (core/vocabulary.py; function_app/ranking.py applies both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NEAREST_PROBES = 10  # probes averaged for a query's nonsense similarity


def nonsense_similarity(queries: np.ndarray, probes: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """(Q, d) and (P, d) unit vectors -> (Q,) mean cosine of each query's ``NEAREST_PROBES`` nearest
    probes. ``exclude_self``: the queries are the probes themselves (Q == P), each left out of its own."""
    similarity = np.atleast_2d(queries) @ probes.T  # (Q, P)
    if exclude_self:
        np.fill_diagonal(similarity, -np.inf)
    count = min(NEAREST_PROBES, probes.shape[0] - (1 if exclude_self else 0))
    if count < 1:
        raise ValueError(f"need more than {probes.shape[0]} probe(s)")
    nearest = -np.partition(-similarity, count - 1, axis=1)[:, :count]  # (Q, count)
    return nearest.mean(axis=1)


@dataclass(frozen=True)
class Gate:
    """A bundle's calibration: cosines in its reduced space, and how they were measured."""

    answer_margin: float  # answered if the best image's cosine >= nonsense similarity + this
    min_similarity: float | None  # then images below this cosine sharing no word are dropped; None: none
    answer_quantile: float  # of the probes' own margins (each probe against the others)
    floor_quantile: float | None  # of the probes' best cosines against the rows; None: no floor
    probes: int  # nonsense probe queries measured
    rows: int  # rows they were measured against

    def answer_similarity(self, query: np.ndarray, probes: np.ndarray) -> float:
        """The cosine a candidate must reach for the (d,) unit query to be answered (at most 1)."""
        return min(1.0, float(nonsense_similarity(query, probes)[0]) + self.answer_margin)

    def to_manifest(self) -> dict[str, float | int | None]:
        return {
            "answer_margin": self.answer_margin,
            "min_similarity": self.min_similarity,
            "answer_quantile": self.answer_quantile,
            "floor_quantile": self.floor_quantile,
            "probes": self.probes,
            "rows": self.rows,
        }

    @classmethod
    def from_manifest(cls, entry: dict[str, Any]) -> Gate:
        """Raises KeyError, TypeError or ValueError on a malformed entry."""
        floor, floor_quantile = entry["min_similarity"], entry["floor_quantile"]
        gate = cls(
            float(entry["answer_margin"]),
            None if floor is None else float(floor),
            float(entry["answer_quantile"]),
            None if floor_quantile is None else float(floor_quantile),
            int(entry["probes"]),
            int(entry["rows"]),
        )
        if not -2.0 <= gate.answer_margin <= 2.0 or not -1.0 <= (gate.min_similarity or 0.0) <= 1.0:
            raise ValueError(f"margin {gate.answer_margin:g} or floor {gate.min_similarity} out of range")
        return gate
