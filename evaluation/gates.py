"""The answer gate on every evaluation set: real queries answered, nonsense left empty, and recall.

For each set (openclipart, the Tux Paint out-of-domain set, ...) three indexes are built through the
real publishing code, so each has its own calibrated gate: the captioner's captions alone (top-5 beams,
probability-weighted mean), the product (those captions with the image's ImageNet tags mixed in and
stored, as the indexer does) and the labels-only baseline (each image described by the names of its
top-5 ImageNet classes from the captioner's own backbone). Each is searched through
``SearchService.search`` with the service's default plan, under the fixed gate (0.6, floor 0.3), the
calibrated gate (the service default) with its quantiles, without its language check
(core/vocabulary.py), with alternatives recalibrated from the bundle's own probes and rows, and no
gate. Queries are the set's human captions (``all``); nonsense queries are
``queries.nonsense_queries``, a different generator from the bundles' probes, and keyboard noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.database import Connection
from core.text_encoder import OnnxSentenceEncoder
from evaluation.generated import drop_unknown
from evaluation.labels import image_tags, label_texts
from evaluation.metrics import evaluate_rankings
from evaluation.queries import all_caption_queries, keyboard_noise, nonsense_queries
from evaluation.retrieval import SERVICE_DEFAULTS, CaptionIndex, build_caption_index, service_rankings
from function_app.ranking import DEFAULT_ANSWER_SIMILARITY, DEFAULT_MIN_SIMILARITY, RankingOptions
from indexing.calibrate import ANSWER_QUANTILE, FLOOR_QUANTILE, calibrate
from training.data import ImageRecord

DEPTH = 10
NONSENSE = 200
NOISE = 100  # keyboard noise queries, a second kind of nonsense
CAPTIONS = "captions (top-5 beams, weighted mean)"
PRODUCT = "captions + tags (the product)"
LABELS = "labels only: top-5 ImageNet class names"
# (answer quantile, floor quantile) recalibrated beside the shipped ones; None: no floor.
ALTERNATIVES: tuple[tuple[float, float | None], ...] = ((0.9, None), (0.95, None), (0.99, None), (0.98, 0.0))


@dataclass(frozen=True)
class GateSet:
    """One evaluation set: its held-out images, their beam captions and class probabilities."""

    name: str
    images: Sequence[ImageRecord]
    generated: dict[str, list[tuple[str, float]]]
    probabilities: np.ndarray | None  # (N, 1000) in image order; None: the backbone has no classifier


def _recalibrated(index: CaptionIndex, answer: float, floor: float | None) -> CaptionIndex:
    """The index with its bundle's gate recalibrated at other quantiles from the bundle's own probes
    and rows (what build_version would have stored with those quantiles)."""
    probes = index.bundle.probes
    assert probes is not None, "every bundle built here is calibrated"
    gate = calibrate(probes, index.reduce(index.embeddings), answer_quantile=answer, floor_quantile=floor)
    manifest = {**index.bundle.manifest, "gate": gate.to_manifest()}
    return replace(index, bundle=replace(index.bundle, manifest=manifest))


def _row(
    conn: Connection,
    index: CaptionIndex,
    ranking: RankingOptions,
    queries: tuple[list[str], np.ndarray, list[frozenset[str]]],
    nonsense: tuple[list[str], np.ndarray],
    noise: tuple[list[str], np.ndarray],
) -> dict[str, object]:
    texts, vectors, relevant = queries
    found = service_rankings(conn, index, vectors, texts, DEPTH, None, ranking)
    report = evaluate_rankings([[i for i, _ in r] for r in found], relevant, depth=DEPTH)
    junk = service_rankings(conn, index, nonsense[1], nonsense[0], DEPTH, None, ranking)
    mash = service_rankings(conn, index, noise[1], noise[0], DEPTH, None, ranking)
    gate = index.bundle.gate
    return {
        "recall": report.recall,
        "queries": len(texts),
        "answered": sum(bool(r) for r in found) / len(found),
        "nonsense_empty": sum(not r for r in junk) / len(junk),
        "noise_empty": sum(not r for r in mash) / len(mash),
        "results": report.mean_results,
        "margin": None if gate is None else gate.answer_margin,
        "floor": None if gate is None else gate.min_similarity,
    }


def gate_rows(
    conn: Connection, share: Path, encoder_dir: Path, encoder: OnnxSentenceEncoder, sets: Sequence[GateSet]
) -> list[dict[str, object]]:
    """Per set, system and gate: R@1/5/10, share of real queries answered, share of nonsense empty."""
    default = SERVICE_DEFAULTS.ranking
    fixed = replace(
        default, min_similarity=DEFAULT_MIN_SIMILARITY, answer_similarity=DEFAULT_ANSWER_SIMILARITY
    )
    margin_only = replace(default, answer_in_words=False)
    floor_label = "no floor" if FLOOR_QUANTILE is None else f"floor q={FLOOR_QUANTILE}"
    junk_texts = nonsense_queries(NONSENSE)
    nonsense = (junk_texts, encoder.encode(junk_texts))
    mash_texts = keyboard_noise(NOISE)
    noise = (mash_texts, encoder.encode(mash_texts))
    rows: list[dict[str, object]] = []
    for gate_set in sets:
        queries = all_caption_queries(gate_set.images)
        asked = (queries.texts, encoder.encode(queries.texts), queries.relevant)
        ids = [r.image_id for r in gate_set.images]
        kept = {i: drop_unknown(gate_set.generated[i][:5]) for i in ids}
        texts = {i: [t for t, _ in kept[i]] for i in ids}
        scores = {i: [s for _, s in kept[i]] for i in ids}

        def index_of(captions: dict[str, list[str]], **extra: Any) -> CaptionIndex:
            return build_caption_index(conn, share, encoder_dir, encoder, captions, **extra)

        indexes = {CAPTIONS: index_of(texts, scores=scores)}
        if gate_set.probabilities is not None:
            tags = image_tags(gate_set.probabilities, ids)
            indexes[PRODUCT] = index_of(texts, scores=scores, tags=tags)
            indexes[LABELS] = index_of(label_texts(gate_set.probabilities, ids))
        for system, index in indexes.items():
            modes: list[tuple[str, CaptionIndex, RankingOptions]] = [
                (f"fixed gate {DEFAULT_ANSWER_SIMILARITY}, floor {DEFAULT_MIN_SIMILARITY}", index, fixed),
                (f"**calibrated gate** q={ANSWER_QUANTILE}, {floor_label} (service default)", index, default),
                (
                    f"calibrated gate q={ANSWER_QUANTILE}, {floor_label}, no language check",
                    index,
                    margin_only,
                ),
            ]
            for answer, floor in ALTERNATIVES:
                label = f"calibrated gate q={answer}, " + (
                    "no floor" if floor is None else f"floor q={floor}"
                )
                modes.append((label, _recalibrated(index, answer, floor), default))
            modes.append(("gate and floor off", index, default.without_cutoff()))
            for gate, searched, options in modes:
                row = _row(conn, searched, options, asked, nonsense, noise)
                rows.append({"set": gate_set.name, "system": system, "gate": gate, **row})
    return rows


def format_gate_table(rows: Sequence[dict[str, object]]) -> str:
    lines = [
        "| set | system | gate | queries | R@1 | R@5 | R@10 | real answered | nonsense empty "
        "| keyboard noise empty | results/query | margin | floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        recall: dict[int, float] = row["recall"]  # type: ignore[assignment]
        margin, floor = row["margin"], row["floor"]
        lines.append(
            f"| {row['set']} | {row['system']} | {row['gate']} | {row['queries']} | {recall[1]:.3f} "
            f"| {recall[5]:.3f} | {recall[10]:.3f} | {row['answered']:.2f} | {row['nonsense_empty']:.2f} "
            f"| {row['noise_empty']:.2f} | {row['results']:.1f} "
            f"| {'' if margin is None else f'{margin:.3f}'} | {'' if floor is None else f'{floor:.3f}'} |"
        )
    return "\n".join(lines)
