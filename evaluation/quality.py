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
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from evaluation.metrics import evaluate_rankings
from evaluation.queries import QuerySet, all_caption_queries, caption_texts, nonsense_queries, paired_ceiling
from evaluation.retrieval import (
    CaptionIndex,
    Ranking,
    apply_cutoff,
    build_caption_index,
    exact_full_rankings,
    hybrid_rankings,
    lexical_rankings,
    semantic_rankings,
)
from function_app.index_reader import SearchPlan
from indexing.database import Connection
from training.data import ImageRecord, load_karpathy
from training.vocab import UNK

log = logging.getLogger("evaluation.quality")
DEPTH = 100
IVFFLAT = SearchPlan("ivfflat", probes=8)  # the service default
HYBRID_WEIGHTS = (0.1, 0.2, 0.3)
CUTOFFS = (0.2, 0.3, 0.4, 0.5, 0.6)


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
    return {"set": queries.name, "system": system, **asdict(report)}


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
    real: QuerySet, real_rankings: Sequence[Ranking], nonsense: Sequence[Ranking]
) -> list[dict[str, float]]:
    """For each threshold: real queries' Recall@10 and results kept, nonsense queries' results kept."""
    rows = []
    for threshold in (-1.0, *CUTOFFS):
        kept = apply_cutoff(real_rankings, threshold)
        junk = apply_cutoff(nonsense, threshold)
        report = evaluate_rankings([[i for i, _ in r[:10]] for r in kept], real.relevant, depth=10)
        rows.append(
            {
                "threshold": threshold,
                "recall@10": report.recall[10],
                "real_results@10": sum(min(len(r), 10) for r in kept) / len(kept),
                "nonsense_results@10": sum(min(len(r), 10) for r in junk) / len(junk),
                "nonsense_empty": sum(not r for r in junk) / len(junk),
            }
        )
    return rows


def drop_unknown(texts: Sequence[str]) -> list[str]:
    """Captions without the captioner's ``<unk>`` word (meaningless to the encoder), deduplicated."""
    cleaned = (" ".join(w for w in text.split() if w != UNK) for text in texts)
    return list(dict.fromkeys(cleaned))


def _improvements(
    conn: Connection, label: str, index: CaptionIndex, queries: QuerySet, vectors: np.ndarray
) -> list[dict[str, object]]:
    """IVFFlat max-similarity over the index's caption rows, then hybrid with full-text rank."""
    ranked = semantic_rankings(conn, index, vectors, DEPTH, IVFFLAT)
    lexical = lexical_rankings(conn, index.version, queries.texts, DEPTH)
    rows = [report_row(f"{label}, IVFFlat", queries, ranked)]
    for weight in HYBRID_WEIGHTS:
        rows.append(
            report_row(f"{label}, hybrid w={weight}", queries, hybrid_rankings(ranked, lexical, weight))
        )
    return rows


def _references(
    conn: Connection, index: CaptionIndex, queries: QuerySet, vectors: np.ndarray
) -> list[dict[str, object]]:
    """The default search on top-1 captions and what each approximation costs, plus full-text search."""
    plans = {
        "IVFFlat probes=8 (default)": IVFFLAT,
        "IVFFlat probes=16": SearchPlan("ivfflat", probes=16),
        "clusters nprobe=1": SearchPlan("clusters", probes=1),
        "exact reduced-dim": SearchPlan("exact"),
    }
    rows = [
        report_row(f"generated, {name}", queries, semantic_rankings(conn, index, vectors, DEPTH, plan))
        for name, plan in plans.items()
    ]
    rows.append(
        report_row("generated, exact full-dim (no PCA)", queries, exact_full_rankings(index, vectors, DEPTH))
    )
    rows.append(
        report_row(
            "generated, full-text search",
            queries,
            lexical_rankings(conn, index.version, queries.texts, DEPTH),
        )
    )
    return rows


def evaluate(
    conn: Connection,
    share: Path,
    encoder_dir: Path,
    images: Sequence[ImageRecord],
    generated: dict[str, list[tuple[str, float]]],
    beams: Sequence[int],
) -> dict[str, object]:
    """Build the indexes, run every system on both query sets; returns the rows and the cutoff table."""
    from indexing.text_encoder import OnnxSentenceEncoder

    encoder = OnnxSentenceEncoder(encoder_dir)
    everything = all_caption_queries(images)
    ceiling_captions, paired = paired_ceiling(images)
    vectors = {q.name: encoder.encode(q.texts) for q in (everything, paired)}

    def index_of(captions: dict[str, list[str]], pooled: bool = False) -> CaptionIndex:
        return build_caption_index(conn, share, encoder_dir, encoder, captions, pooled=pooled)

    top1 = index_of({image_id: [c[0][0]] for image_id, c in generated.items()})
    ceiling = index_of({image_id: [text] for image_id, text in ceiling_captions.items()})
    variants = {
        f"generated top-{m} beams": index_of({i: [t for t, _ in c[:m]] for i, c in generated.items()})
        for m in beams
        if m > 1
    }
    widest = max(beams)
    variants[f"generated top-{widest}, <unk> dropped"] = index_of(
        {i: drop_unknown([t for t, _ in c[:widest]]) for i, c in generated.items()}
    )
    variants[f"generated top-{widest}, mean-pooled"] = index_of(
        {i: drop_unknown([t for t, _ in c[:widest]]) for i, c in generated.items()}, pooled=True
    )

    rows: list[dict[str, object]] = []
    for queries in (everything, paired):
        q = vectors[queries.name]
        if queries is paired:
            ceiling_ivf = semantic_rankings(conn, ceiling, q, DEPTH, IVFFLAT)
            rows.append(report_row("human ceiling, IVFFlat", queries, ceiling_ivf))
            rows.append(
                report_row("human ceiling, exact full-dim", queries, exact_full_rankings(ceiling, q, DEPTH))
            )
        rows.extend(_references(conn, top1, queries, q))
        rows.extend(_improvements(conn, "generated top-1", top1, queries, q))
        for label, index in variants.items():
            rows.extend(_improvements(conn, label, index, queries, q))
    real = semantic_rankings(conn, top1, vectors[everything.name], DEPTH, IVFFLAT)
    junk = semantic_rankings(conn, top1, encoder.encode(nonsense_queries(200)), DEPTH, IVFFLAT)
    return {"rows": rows, "cutoff": cutoff_table(everything, real, junk)}


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
    result = run(args.dsn, images, generated, beams, args.encoder_cache)
    result["checkpoint"] = str(args.checkpoint)
    result["images"] = len(images)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"checkpoint {args.checkpoint}, split {args.split}, {len(images)} images")
    print(format_table(result["rows"]))  # type: ignore[arg-type]
    print("\nrelevance cutoff (generated top-1, IVFFlat; 200 nonsense queries):")
    print("| threshold | R@10 | real results@10 | nonsense results@10 | nonsense empty |")
    print("|---|---|---|---|---|")
    for row in result["cutoff"]:  # type: ignore[attr-defined]
        print(
            f"| {row['threshold']:g} | {row['recall@10']:.3f} | {row['real_results@10']:.1f} "
            f"| {row['nonsense_results@10']:.1f} | {row['nonsense_empty']:.2f} |"
        )
    return 0


def run(
    dsn: str | None,
    images: Sequence[ImageRecord],
    generated: dict[str, list[tuple[str, float]]],
    beams: Sequence[int],
    encoder_cache: Path,
) -> dict[str, object]:
    import psycopg2
    from pgvector.psycopg2 import register_vector

    from indexing.database import apply_schema, start_embedded_postgres
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = ensure_encoder_export(encoder_cache)
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
