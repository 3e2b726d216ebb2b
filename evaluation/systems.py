"""The systems the evaluation compares, each ranked on the same query sets, and their table rows.

The service default, its reference points (exact search, no PCA, full-text alone, the human-caption
ceiling) and candidate improvements (several captions per image, hybrid weights, relevance cutoffs).
Plans and rankings go to the search service itself (evaluation/retrieval.py); what the service does by
default comes from its settings with no SEARCH_* variables set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from core.database import Connection
from core.vector_index import Strategy
from evaluation.generated import drop_unknown
from evaluation.metrics import evaluate_rankings, recall_ratio
from evaluation.queries import (
    QuerySet,
    all_caption_queries,
    keyword_queries,
    nonsense_queries,
    paired_ceiling,
)
from evaluation.retrieval import (
    SERVICE_DEFAULTS,
    CaptionIndex,
    Ranking,
    build_caption_index,
    exact_full_rankings,
    lexical_rankings,
    service_rankings,
    service_strategy,
    union_rankings,
)
from function_app.planner import PlanOptions
from function_app.ranking import RankingOptions
from training.data import ImageRecord

DEPTH = 100
EXACT = PlanOptions(Strategy.EXACT)
LARGE_INDEX = replace(SERVICE_DEFAULTS.plan, exact_below=0)  # the default plan from exact_below images
ROUTED = PlanOptions(Strategy.CLUSTERS, nprobe=1, exact_below=0)  # the original design
HYBRID_WEIGHTS = (0.1, 0.2, 0.3, 0.5)
CEILING = "human ceiling, exact full-dim"
CEILING_SERVICE = "human ceiling, service default"  # the same index and settings as the service default
SERVICE_DEFAULT = "**service default**"
CUTOFFS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)
ANSWER_GATES = (0.5, 0.55, 0.6)  # the query's best cosine, below which it gets no answer
GATED_FLOORS = (0.3, 0.4, 0.45, 0.5)


def plan_label(plan: PlanOptions) -> str:
    """How a table names a plan, e.g. "IVFFlat probes=8"."""
    match plan.strategy:
        case Strategy.IVFFLAT:
            return f"IVFFlat probes={plan.nprobe}"
        case Strategy.HNSW:
            return f"HNSW ef_search={plan.ef_search}"
        case Strategy.CLUSTERS:
            return f"clusters nprobe={plan.nprobe}"
        case Strategy.EXACT:
            return "exact"


def report_row(system: str, queries: QuerySet, rankings: Sequence[Ranking]) -> dict[str, object]:
    report = evaluate_rankings([[i for i, _ in r] for r in rankings], queries.relevant, depth=DEPTH)
    return {
        "set": queries.name,
        "system": system,
        **asdict(report),
        "ranks": [None if math.isinf(rank) else rank for rank in report.ranks],  # JSON has no inf
    }


def ceiling_ratios(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """Each system's Recall@10 over the human ceiling's (exact search) on the same queries, and the
    service default's over the ceiling's under the same service settings, each with a 95 % interval."""
    by_name = {(row["set"], row["system"]): row for row in rows}
    out = []
    for row in rows:
        if row["system"] in (CEILING, CEILING_SERVICE) or (row["set"], CEILING) not in by_name:
            continue
        references = [CEILING]
        if str(row["system"]).startswith(SERVICE_DEFAULT):
            references.append(CEILING_SERVICE)
        for reference in references:
            ratio = recall_ratio(_ranks(row), _ranks(by_name[(row["set"], reference)]), k=10)
            out.append({"set": row["set"], "system": row["system"], "against": reference, **asdict(ratio)})
    return out


def _ranks(row: dict[str, object]) -> list[float]:
    return [math.inf if rank is None else float(rank) for rank in row["ranks"]]  # type: ignore[attr-defined]


def cutoff_table(
    conn: Connection,
    index: CaptionIndex,
    real: Sequence[tuple[QuerySet, np.ndarray]],
    junk_texts: Sequence[str],
    junk_vectors: np.ndarray,
    options: RankingOptions,
) -> list[dict[str, object]]:
    """For each cutoff of the service's ranking (a per-result cosine threshold, or an answer gate on the
    best candidate plus a lower per-result floor) under its default plan: each real query set's
    Recall@10, the results the first set keeps, and what pseudo-word queries get back."""
    rows: list[dict[str, object]] = []
    settings: list[tuple[float | None, float | None]] = [(None, t) for t in (None, *CUTOFFS)]
    settings += [
        (gate, floor) for gate in ANSWER_GATES for floor in (None, *GATED_FLOORS) if not floor or floor < gate
    ]
    for gate, threshold in settings:
        cut = RankingOptions(options.text_weight, threshold, answer_similarity=gate)
        recall, results = {}, {}
        for queries, vectors in real:
            kept = service_rankings(conn, index, vectors, queries.texts, 10, None, cut)
            report = evaluate_rankings([[i for i, _ in r] for r in kept], queries.relevant, depth=10)
            recall[queries.name], results[queries.name] = report.recall[10], report.mean_results
        junk = service_rankings(conn, index, junk_vectors, junk_texts, 10, None, cut)
        rows.append(
            {
                "answer_gate": -1.0 if gate is None else gate,
                "threshold": -1.0 if threshold is None else threshold,
                "recall@10": recall,
                "real_results@10": results[real[0][0].name],
                "nonsense_results@10": sum(len(r) for r in junk) / len(junk),
                "nonsense_empty": sum(not r for r in junk) / len(junk),
            }
        )
    return rows


def _references(
    conn: Connection, index: CaptionIndex, queries: QuerySet, vectors: np.ndarray
) -> list[dict[str, object]]:
    """Top-1 captions, cosine only: the search strategies, no PCA, and full-text search alone."""
    texts = queries.texts
    plans = {plan_label(LARGE_INDEX): LARGE_INDEX, plan_label(ROUTED): ROUTED, "exact reduced-dim": EXACT}
    systems = {
        f"generated top-1, {name}": service_rankings(conn, index, vectors, texts, DEPTH, plan)
        for name, plan in plans.items()
    }
    systems["generated top-1, exact full-dim (no PCA)"] = exact_full_rankings(index, vectors, DEPTH)
    systems["generated top-1, full-text search only"] = lexical_rankings(conn, index, vectors, texts, DEPTH)
    return [report_row(label, queries, rankings) for label, rankings in systems.items()]


def _improvements(
    conn: Connection,
    variants: dict[str, CaptionIndex],
    service: CaptionIndex,
    queries: QuerySet,
    vectors: np.ndarray,
    service_label: str,
    default_strategy: Strategy,
) -> list[dict[str, object]]:
    """Several captions per image (max-sim rows or one mean row), the hybrid weight, the service default
    (which searches the ``service`` index with ``default_strategy``) and what its approximations cost."""
    texts = queries.texts
    systems = {
        f"{label}, exact, cosine only": service_rankings(conn, index, vectors, texts, DEPTH, EXACT)
        for label, index in variants.items()
    }
    for weight in HYBRID_WEIGHTS:
        systems[f"{service_label}, exact, hybrid w={weight}"] = service_rankings(
            conn, service, vectors, texts, DEPTH, EXACT, RankingOptions(weight).without_cutoff()
        )
    default = SERVICE_DEFAULTS.ranking
    w = default.text_weight
    hybrid = RankingOptions(w).without_cutoff()
    systems[f"{service_label}, exact, hybrid w={w} + full-text-only candidates"] = union_rankings(
        conn, service, vectors, texts, DEPTH, hybrid
    )
    systems[f"{service_label}, {plan_label(LARGE_INDEX)}, hybrid w={w}"] = service_rankings(
        conn, service, vectors, texts, DEPTH, LARGE_INDEX, hybrid
    )
    systems[f"{service_label}, exact full-dim (no PCA), cosine only"] = exact_full_rankings(
        service, vectors, DEPTH
    )
    systems[
        f"{SERVICE_DEFAULT}: {service_label}, {default_strategy}, hybrid w={w}, "
        f"answer {default.answer_similarity}, floor {default.min_similarity}"
    ] = service_rankings(conn, service, vectors, texts, DEPTH, None, default)
    return [report_row(label, queries, rankings) for label, rankings in systems.items()]


def evaluate(
    conn: Connection,
    share: Path,
    encoder_dir: Path,
    images: Sequence[ImageRecord],
    generated: dict[str, list[tuple[str, float]]],
    beams: Sequence[int],
) -> dict[str, object]:
    """Build the indexes, run every system on both query sets; returns the rows and the cutoff table."""
    from core.text_encoder import OnnxSentenceEncoder

    encoder = OnnxSentenceEncoder(encoder_dir)
    everything = all_caption_queries(images)
    ceiling_captions, paired = paired_ceiling(images)
    against_ceiling = [q for q in (paired, keyword_queries(images, ceiling_captions)) if q.texts]
    query_sets = [everything, *against_ceiling]
    vectors = {q.name: encoder.encode(q.texts) for q in query_sets}

    def index_of(
        captions: dict[str, list[str]],
        scores: dict[str, list[float]] | None = None,
        row_per_caption: bool = False,
    ) -> CaptionIndex:
        return build_caption_index(
            conn, share, encoder_dir, encoder, captions, scores=scores, row_per_caption=row_per_caption
        )

    def top(m: int) -> tuple[dict[str, list[str]], dict[str, list[float]]]:
        kept = {i: drop_unknown(c[:m]) for i, c in generated.items()}
        return {i: [t for t, _ in c] for i, c in kept.items()}, {
            i: [s for _, s in c] for i, c in kept.items()
        }

    top1 = index_of(top(1)[0])
    ceiling = index_of({image_id: [text] for image_id, text in ceiling_captions.items()})
    variants: dict[str, CaptionIndex] = {}
    for m in (b for b in beams if b > 1):
        texts, scores = top(m)
        variants[f"generated top-{m}, row per caption, max-sim"] = index_of(texts, row_per_caption=True)
        variants[f"generated top-{m}, mean embedding"] = index_of(texts)
        variants[f"generated top-{m}, beam-weighted mean"] = index_of(texts, scores)
    widest = max(beams)
    service_label = f"generated top-{widest}, beam-weighted mean"  # the index the service builds
    service = variants.get(service_label, top1)
    default_strategy = service_strategy(conn, service)

    rows: list[dict[str, object]] = []
    for queries in query_sets:
        q = vectors[queries.name]
        if queries in against_ceiling:
            rows.append(report_row(CEILING, queries, exact_full_rankings(ceiling, q, DEPTH)))
            rows.append(
                report_row(
                    CEILING_SERVICE,
                    queries,
                    service_rankings(conn, ceiling, q, queries.texts, DEPTH, None, SERVICE_DEFAULTS.ranking),
                )
            )
        rows.extend(_references(conn, top1, queries, q))
        rows.extend(_improvements(conn, variants, service, queries, q, service_label, default_strategy))
    junk_texts = nonsense_queries(200)
    cutoff = cutoff_table(
        conn,
        service,
        [(queries, vectors[queries.name]) for queries in query_sets],
        junk_texts,
        encoder.encode(junk_texts),
        SERVICE_DEFAULTS.ranking,
    )
    return {
        "rows": rows,
        "ratios": ceiling_ratios(rows),
        "cutoff": cutoff,
        "service_index": service_label,
        "service_strategy": default_strategy.value,
    }
