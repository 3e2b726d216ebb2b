"""The answer gate and floor of a bundle, calibrated on its own corpus at publish time (core/gate.py).

A query is answered when its best image beats the query's similarity to nonsense by a margin. The
margin is measured on the corpus itself: a fixed, shipped set of nonsense probe queries
(calibration_probes.txt) is encoded and reduced exactly as the service reduces a query, and for each
probe its best cosine against the version's rows (the fit sample: every row up to
``fit.MAX_FIT_SAMPLE``) is compared with its similarity to the *other* probes. The margin is a high
quantile of those, so about that share of nonsense goes unanswered on this corpus whatever its cosine
level. The probes are pseudo-words and keyboard noise; a query written in words skips the margin
(core/vocabulary.py), so the margin only has to let through the few real queries that are not. A floor
(a quantile of the probes' best cosines, under which an answered query's results are dropped) can be
calibrated too, but none is by default. The quantiles were chosen on the validation splits of two
collections (docs/quality.md, "A gate calibrated per bundle"). A fixed cosine gate tuned
on openclipart dropped 40 % of real queries on another collection, and no cosine level separates real
queries from nonsense there.

``null_maxima`` and ``calibrate`` are pure; ``calibrate_space`` encodes the probes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from core.gate import Gate, nonsense_similarity
from core.space import project
from core.text_encoder import MODEL_FILE
from indexing.fit import FittedSpace

PROBES_FILE = Path(__file__).with_name("calibration_probes.txt")
ANSWER_QUANTILE = 0.98  # of the probes' margins (best row over nearest other probes): the gate's margin
# Of the probes' best cosines: the floor under an answered query's results. None: no floor; every floor
# tried cut real results on both validation sets without leaving more nonsense empty (docs/quality.md).
FLOOR_QUANTILE: float | None = None
_CHUNK = 8192  # rows per matrix product, to bound memory


@cache
def load_probes(path: Path = PROBES_FILE) -> tuple[str, ...]:
    """The probe queries, one a line; lines starting with # are comments."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def null_maxima(probes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(P, d) and (S, d) unit vectors -> (P,) each probe's best cosine over the rows."""
    if probes.ndim != 2 or rows.ndim != 2 or probes.shape[1] != rows.shape[1]:
        raise ValueError(f"probes {probes.shape} and rows {rows.shape} are not in one space")
    if len(probes) == 0 or len(rows) == 0:
        raise ValueError("need at least one probe and one row to calibrate")
    best = np.full(len(probes), -1.0, dtype=np.float32)
    for start in range(0, len(rows), _CHUNK):
        similarity = probes @ rows[start : start + _CHUNK].T  # (P, chunk)
        np.maximum(best, similarity.max(axis=1), out=best)
    return best


def calibrate(
    probes: np.ndarray,
    rows: np.ndarray,
    *,
    answer_quantile: float = ANSWER_QUANTILE,
    floor_quantile: float | None = FLOOR_QUANTILE,
) -> Gate:
    """The gate of a corpus from its reduced probe (P, d) and row (S, d) unit vectors: the margin at
    ``answer_quantile`` of the probes' margins, the floor at ``floor_quantile`` of their best cosines
    (None: no floor)."""
    if not (0.0 <= (floor_quantile or 0.0) <= 1.0 and 0.0 <= answer_quantile <= 1.0):
        raise ValueError(f"quantiles must be in [0, 1], got answer {answer_quantile}, floor {floor_quantile}")
    maxima = null_maxima(probes, rows).astype(np.float64)  # (P,)
    margins = maxima - nonsense_similarity(probes, probes, exclude_self=True)  # (P,)
    return Gate(
        answer_margin=round(float(np.quantile(margins, answer_quantile)), 4),
        min_similarity=None
        if floor_quantile is None
        else round(float(np.quantile(maxima, floor_quantile)), 4),
        answer_quantile=answer_quantile,
        floor_quantile=floor_quantile,
        probes=len(probes),
        rows=len(rows),
    )


def _probe_embeddings(encoder_dir: Path, probes: tuple[str, ...]) -> np.ndarray:
    """(P, D), cached per encoder file: a build of many versions encodes the probes once."""
    model = (encoder_dir / MODEL_FILE).resolve()
    stat = model.stat()
    return _encode(model.parent, stat.st_mtime_ns, stat.st_size, probes)


@cache
def _encode(encoder_dir: Path, mtime_ns: int, size: int, probes: tuple[str, ...]) -> np.ndarray:
    from core.text_encoder import OnnxSentenceEncoder

    return OnnxSentenceEncoder(encoder_dir).encode(list(probes))  # (P, D)


def calibrate_space(
    encoder_dir: Path,
    space: FittedSpace,
    sample: np.ndarray,
    probes: Sequence[str] | None = None,
    *,
    answer_quantile: float = ANSWER_QUANTILE,
    floor_quantile: float | None = FLOOR_QUANTILE,
) -> tuple[Gate, np.ndarray]:
    """The gate of a fitted space from ``sample`` (S, D), encoder-space embeddings of its rows, and the
    probes (P, d) in its reduced space, which the bundle ships.

    ``encoder_dir`` is the encoder the rows were made with (the one the bundle ships); ``probes``
    defaults to the shipped probe set; the quantiles are ``calibrate``'s.
    """
    texts = tuple(probes) if probes is not None else load_probes()
    encoded = _probe_embeddings(encoder_dir, texts)  # (P, D)
    reduced_probes = project(encoded, space.pca_mean, space.pca_components)  # (P, d)
    reduced_rows = project(sample, space.pca_mean, space.pca_components)  # (S, d)
    return calibrate(
        reduced_probes, reduced_rows, answer_quantile=answer_quantile, floor_quantile=floor_quantile
    ), reduced_probes
