"""Retrieval quality on a held-out split: `python -m evaluation.quality --help`.

Captions the held-out images with a checkpoint, indexes them through the real publishing code (encoder,
PCA, K-means, PostgreSQL + IVFFlat), queries with the held-out human captions and prints Recall@1/5/10,
median rank and mAP for the default search and its reference points and candidate improvements.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from core.database import Connection
from evaluation.metrics import evaluate_rankings, recall_ratio
from evaluation.queries import (
    QuerySet,
    all_caption_queries,
    caption_texts,
    keyword_queries,
    nonsense_queries,
    paired_ceiling,
)
from evaluation.retrieval import (
    CaptionIndex,
    Ranking,
    build_caption_index,
    exact_full_rankings,
    lexical_rankings,
    service_rankings,
    union_rankings,
)
from function_app.index_reader import SearchPlan
from function_app.ranking import RankingOptions
from training.data import ImageRecord, load_karpathy
from training.vocab import UNK

log = logging.getLogger("evaluation.quality")
DEPTH = 100
IVFFLAT = SearchPlan("ivfflat", probes=8)  # the service's strategy from 10,000 images
EXACT = SearchPlan("exact")  # the service's strategy below 10,000 images (SEARCH_EXACT_BELOW)
DEFAULT_PLAN = EXACT
HYBRID_WEIGHTS = (0.1, 0.2, 0.3, 0.5)
CEILING = "human ceiling, exact full-dim"
CEILING_SERVICE = "human ceiling, service default"  # the same index and settings as the service default
SERVICE_DEFAULT = "**service default**"
CUTOFFS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)
ANSWER_GATES = (0.5, 0.55, 0.6)  # the query's best cosine, below which it gets no answer
GATED_FLOORS = (0.3, 0.4, 0.45, 0.5)


def select_images(records: Sequence[ImageRecord], split: str, limit: int | None) -> list[ImageRecord]:
    """The split's captioned images in id order; ``limit`` keeps a fixed, evenly spread subset."""
    chosen = sorted((r for r in records if r.split == split and caption_texts(r)), key=lambda r: r.image_id)
    if limit and limit < len(chosen):
        step = len(chosen) / limit
        chosen = [chosen[int(i * step)] for i in range(limit)]
    return chosen


def generate_captions(
    checkpoint: Path, images: Sequence[ImageRecord], root: Path, beam_size: int, cache: Path
) -> dict[str, list[tuple[str, float]]]:
    """Image id -> beam captions, best first; cached in ``cache`` by checkpoint, beam and image list."""
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    key = (
        f"{digest}:{beam_size}:" + hashlib.sha256("\n".join(r.image_id for r in images).encode()).hexdigest()
    )
    if cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            log.info("captions from %s", cache)
            return {k: [(t, s) for t, s in v] for k, v in stored["captions"].items()}
    from evaluation.beams import caption_candidates
    from training.caption import load_captioner

    captioner = load_captioner(checkpoint, "cpu")
    found = caption_candidates(captioner, [root / r.path for r in images], beam_size=beam_size)
    captions = {r.image_id: c for r, c in zip(images, found, strict=True)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "checkpoint": str(checkpoint), "captions": captions}), "utf-8")
    return captions


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


def format_table(rows: Sequence[dict[str, object]]) -> str:
    lines = [
        "| queries | system | n | R@1 | R@5 | R@10 | median rank | mAP@100 | results/query |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        recall: dict[int, float] = row["recall"]  # type: ignore[assignment]
        lines.append(
            f"| {row['set']} | {row['system']} | {row['queries']} | {recall[1]:.3f} | {recall[5]:.3f} "
            f"| {recall[10]:.3f} | {row['median_rank']:g} | {row['mean_ap']:.3f} "
            f"| {row['mean_results']:.1f} |"
        )
    return "\n".join(lines)


def cutoff_table(
    conn: Connection,
    index: CaptionIndex,
    real: Sequence[tuple[QuerySet, np.ndarray]],
    junk_texts: Sequence[str],
    junk_vectors: np.ndarray,
    options: RankingOptions,
) -> list[dict[str, object]]:
    """For each cutoff of the service's ranking (a per-result cosine threshold, or an answer gate on the
    best candidate plus a lower per-result floor): each real query set's Recall@10, the results the
    first set keeps, and what pseudo-word queries get back."""
    rows: list[dict[str, object]] = []
    settings: list[tuple[float | None, float | None]] = [(None, t) for t in (None, *CUTOFFS)]
    settings += [
        (gate, floor) for gate in ANSWER_GATES for floor in (None, *GATED_FLOORS) if not floor or floor < gate
    ]
    for gate, threshold in settings:
        cut = RankingOptions(options.text_weight, threshold, answer_similarity=gate)
        recall, results = {}, {}
        for queries, vectors in real:
            kept = service_rankings(conn, index, vectors, queries.texts, 10, DEFAULT_PLAN, cut)
            report = evaluate_rankings([[i for i, _ in r] for r in kept], queries.relevant, depth=10)
            recall[queries.name], results[queries.name] = report.recall[10], report.mean_results
        junk = service_rankings(conn, index, junk_vectors, junk_texts, 10, DEFAULT_PLAN, cut)
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


def drop_unknown(captions: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """(text, score) captions without the captioner's ``<unk>`` word (meaningless to the encoder),
    deduplicated keeping the best score."""
    kept: dict[str, float] = {}
    for text, score in captions:
        cleaned = " ".join(w for w in text.split() if w != UNK)
        if cleaned and cleaned not in kept:
            kept[cleaned] = score
    return list(kept.items()) or [(UNK, 0.0)]


def _references(
    conn: Connection, index: CaptionIndex, queries: QuerySet, vectors: np.ndarray
) -> list[dict[str, object]]:
    """Top-1 captions, cosine only: the search strategies, no PCA, and full-text search alone."""
    texts = queries.texts
    plans = {
        "IVFFlat probes=8": IVFFLAT,
        "clusters nprobe=1": SearchPlan("clusters", probes=1),
        "exact reduced-dim": EXACT,
    }
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
) -> list[dict[str, object]]:
    """Several captions per image (max-sim rows or one mean row), the hybrid weight, the service default
    and what its approximations cost."""
    texts = queries.texts
    systems = {
        f"{label}, exact, cosine only": service_rankings(conn, index, vectors, texts, DEPTH, EXACT)
        for label, index in variants.items()
    }
    for weight in HYBRID_WEIGHTS:
        systems[f"{service_label}, exact, hybrid w={weight}"] = service_rankings(
            conn, service, vectors, texts, DEPTH, EXACT, RankingOptions(weight).without_cutoff()
        )
    default = RankingOptions()
    w = default.text_weight
    hybrid = RankingOptions(w).without_cutoff()
    systems[f"{service_label}, exact, hybrid w={w} + full-text-only candidates"] = union_rankings(
        conn, service, vectors, texts, DEPTH, EXACT, hybrid
    )
    systems[f"{service_label}, IVFFlat probes=8, hybrid w={w}"] = service_rankings(
        conn, service, vectors, texts, DEPTH, IVFFLAT, hybrid
    )
    systems[f"{service_label}, exact full-dim (no PCA), cosine only"] = exact_full_rankings(
        service, vectors, DEPTH
    )
    systems[
        f"{SERVICE_DEFAULT}: {service_label}, exact, hybrid w={w}, answer {default.answer_similarity}, "
        f"floor {default.min_similarity}"
    ] = service_rankings(conn, service, vectors, texts, DEPTH, EXACT, default)
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

    rows: list[dict[str, object]] = []
    for queries in query_sets:
        q = vectors[queries.name]
        if queries in against_ceiling:
            rows.append(report_row(CEILING, queries, exact_full_rankings(ceiling, q, DEPTH)))
            rows.append(
                report_row(
                    CEILING_SERVICE,
                    queries,
                    service_rankings(conn, ceiling, q, queries.texts, DEPTH, EXACT, RankingOptions()),
                )
            )
        rows.extend(_references(conn, top1, queries, q))
        rows.extend(_improvements(conn, variants, service, queries, q, service_label))
    junk_texts = nonsense_queries(200)
    cutoff = cutoff_table(
        conn,
        service,
        [(queries, vectors[queries.name]) for queries in query_sets],
        junk_texts,
        encoder.encode(junk_texts),
        RankingOptions(),
    )
    return {"rows": rows, "ratios": ceiling_ratios(rows), "cutoff": cutoff, "service_index": service_label}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.quality",
        description="Text-to-image retrieval quality on a held-out split with human captions.",
    )
    parser.add_argument(
        "--dataset",
        type=Path,
        default=Path(".data/openclipart/dataset.json"),
        help="Karpathy-style dataset.json; images are read relative to its folder",
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="captioner checkpoint (best.pt)")
    parser.add_argument("--split", default="test", help="held-out split to index and query (default test)")
    parser.add_argument("--limit", type=int, help="index only this many images of the split (fixed subset)")
    parser.add_argument("--beams", default="1,3", help="caption rows per image to compare (default 1,3)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(".data/quality"),
        help="writes results.json and the caption cache here",
    )
    parser.add_argument(
        "--encoder-cache",
        type=Path,
        default=Path(".data/test-cache"),
        help="folder holding (or receiving) the ONNX encoder export",
    )
    parser.add_argument(
        "--encoder-dir",
        type=Path,
        help="an ONNX sentence encoder exported by indexing.encoder_export (default: MiniLM, exported "
        "into --encoder-cache)",
    )
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: an embedded server in the temp folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    beams = sorted({int(b) for b in args.beams.split(",")})
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint not found: {args.checkpoint}")
    images = select_images(load_karpathy(args.dataset), args.split, args.limit)
    if len(images) < 20:
        parser.error(f"split {args.split!r} of {args.dataset} has {len(images)} captioned images; need 20")
    generated = generate_captions(
        args.checkpoint, images, args.dataset.parent, max(beams), args.out / "captions.json"
    )
    result = run(args.dsn, images, generated, beams, args.encoder_cache, args.encoder_dir)
    result["checkpoint"] = str(args.checkpoint)
    result["encoder"] = str(args.encoder_dir or "all-MiniLM-L6-v2 (ONNX export)")
    result["images"] = len(images)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(
        f"checkpoint {args.checkpoint}, encoder {result['encoder']}, split {args.split}, {len(images)} images"
    )
    print(format_table(result["rows"]))  # type: ignore[arg-type]
    print("\nRecall@10 against the human ceiling's on the same queries (95 % bootstrap interval):")
    print("| queries | system | against | ratio | interval |")
    print("|---|---|---|---|---|")
    for row in result["ratios"]:  # type: ignore[attr-defined]
        print(
            f"| {row['set']} | {row['system']} | {row['against']} | {row['ratio']:.0%} "
            f"| {row['low']:.0%}–{row['high']:.0%} |"
        )
    print(f"\nrelevance cutoff ({result['service_index']}, exact, hybrid; 200 nonsense queries):")
    sets = list(result["cutoff"][0]["recall@10"])  # type: ignore[index]
    print(
        "| answer gate | threshold | "
        + " | ".join(f"R@10 {name}" for name in sets)
        + " | real results@10 | nonsense results@10 | nonsense empty |"
    )
    print("|---|---|" + "---|" * len(sets) + "---|---|---|")
    for row in result["cutoff"]:  # type: ignore[attr-defined]
        print(
            f"| {row['answer_gate']:g} | {row['threshold']:g} | "
            + " | ".join(f"{row['recall@10'][name]:.3f}" for name in sets)
            + f" | {row['real_results@10']:.1f} "
            f"| {row['nonsense_results@10']:.1f} | {row['nonsense_empty']:.2f} |"
        )
    return 0


def run(
    dsn: str | None,
    images: Sequence[ImageRecord],
    generated: dict[str, list[tuple[str, float]]],
    beams: Sequence[int],
    encoder_cache: Path,
    encoder_dir: Path | None = None,
) -> dict[str, object]:
    import psycopg2
    from pgvector.psycopg2 import register_vector

    from core.database import apply_schema, start_embedded_postgres
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = encoder_dir or ensure_encoder_export(encoder_cache)
    if dsn is None:
        dsn = start_embedded_postgres(Path(tempfile.gettempdir()) / "caption-search-quality-pg", "quality")
    conn = psycopg2.connect(dsn)
    apply_schema(conn)
    register_vector(conn)
    try:
        with tempfile.TemporaryDirectory(prefix="quality-share-") as share:
            return evaluate(conn, Path(share), encoder_dir, images, generated, beams)
    finally:
        conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
