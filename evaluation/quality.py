"""Retrieval quality on a held-out split: `python -m evaluation.quality --help`.

Captions the held-out images with a checkpoint, indexes them through the real publishing code (encoder,
PCA, K-means, PostgreSQL + IVFFlat), queries with the held-out human captions through the search
service and prints Recall@1/5/10, median rank and mAP for the default search and its reference points
and candidate improvements (evaluation/systems.py). Then, on this set and on ``--out-of-domain`` (the
Tux Paint set, docs/out_of_domain.md), the answer gate: real queries answered, nonsense queries left
empty and recall under the fixed, the calibrated and no gate, with the labels-only baseline
(evaluation/gates.py); ``--gates-only`` prints only that.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from core.database import Connection
from evaluation.gates import DEPTH as GATE_DEPTH
from evaluation.gates import NOISE, NONSENSE, GateSet, format_gate_table, gate_rows
from evaluation.generated import generate_captions, select_images
from evaluation.labels import caption_and_classify
from evaluation.report import print_report
from evaluation.systems import evaluate
from training.data import ImageRecord, load_karpathy

GATE_BEAMS = 5  # the gate table's indexes hold what the indexer stores: the top-5 beams


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
    parser.add_argument(
        "--out-of-domain",
        type=Path,
        action="append",
        default=[],
        help="another Karpathy-style dataset.json (e.g. .data/tuxpaint/dataset.json, .data/emoji/"
        "dataset.json) whose split gets the gate table beside this one; repeat for more sets",
    )
    parser.add_argument(
        "--gates-only", action="store_true", help="only the gate table (skips the systems comparison)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    beams = sorted({int(b) for b in args.beams.split(",")})
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint not found: {args.checkpoint}")
    images = select_images(load_karpathy(args.dataset), args.split, args.limit)
    if len(images) < 20:
        parser.error(f"split {args.split!r} of {args.dataset} has {len(images)} captioned images; need 20")
    gate_sets = []
    for number, dataset in enumerate((args.dataset, *args.out_of_domain)):
        chosen = images if number == 0 else select_images(load_karpathy(dataset), args.split, args.limit)
        found, probabilities = caption_and_classify(
            args.checkpoint, chosen, dataset.parent, GATE_BEAMS, args.out / f"gates-{number}"
        )
        gate_sets.append(GateSet(dataset.parent.name, chosen, found, probabilities))
    if args.gates_only:
        result: dict[str, object] = {}
    else:
        generated = generate_captions(
            args.checkpoint, images, args.dataset.parent, max(beams), args.out / "captions.json"
        )
        result = run(args.dsn, images, generated, beams, args.encoder_cache, args.encoder_dir)
    gates = run_gates(args.dsn, gate_sets, args.encoder_cache, args.encoder_dir)
    result["gates"] = gates
    result["checkpoint"] = str(args.checkpoint)
    result["encoder"] = str(args.encoder_dir or "all-MiniLM-L6-v2 (ONNX export)")
    result["images"] = len(images)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(
        f"checkpoint {args.checkpoint}, encoder {result['encoder']}, split {args.split}, {len(images)} images"
    )
    if not args.gates_only:
        print_report(result)
    print(f"\nanswer gate per set ({NONSENSE} nonsense, {NOISE} keyboard noise queries, k={GATE_DEPTH}):")
    print(format_gate_table(gates))
    return 0


def _connect(dsn: str | None) -> Connection:
    import psycopg2
    from pgvector.psycopg2 import register_vector

    from core.database import apply_schema, start_embedded_postgres

    if dsn is None:
        dsn = start_embedded_postgres(Path(tempfile.gettempdir()) / "caption-search-quality-pg", "quality")
    conn = psycopg2.connect(dsn)
    apply_schema(conn)
    register_vector(conn)
    return conn


def run_gates(
    dsn: str | None, sets: Sequence[GateSet], encoder_cache: Path, encoder_dir: Path | None = None
) -> list[dict[str, object]]:
    from core.text_encoder import OnnxSentenceEncoder
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = encoder_dir or ensure_encoder_export(encoder_cache)
    conn = _connect(dsn)
    try:
        with tempfile.TemporaryDirectory(prefix="quality-share-") as share:
            return gate_rows(conn, Path(share), encoder_dir, OnnxSentenceEncoder(encoder_dir), sets)
    finally:
        conn.close()


def run(
    dsn: str | None,
    images: Sequence[ImageRecord],
    generated: dict[str, list[tuple[str, float]]],
    beams: Sequence[int],
    encoder_cache: Path,
    encoder_dir: Path | None = None,
) -> dict[str, object]:
    from indexing.encoder_export import ensure_encoder_export

    encoder_dir = encoder_dir or ensure_encoder_export(encoder_cache)
    conn = _connect(dsn)
    try:
        with tempfile.TemporaryDirectory(prefix="quality-share-") as share:
            return evaluate(conn, Path(share), encoder_dir, images, generated, beams)
    finally:
        conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
