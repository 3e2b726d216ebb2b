"""Query-encoding latency of ONNX sentence encoders, side by side in one run.

    .venv/bin/python -m benchmarks.encoder_latency --encoder .data/cache/minilm-onnx \
        --encoder .data/cache/mpnet-onnx --runs 200

Each encoder folder is an export of indexing.encoder_export. For each: one warm query at a time (what
the search Function does per request; median and p99 ms), and caption throughput in batches of 64 (what
indexing does). The encoders take turns query by query, so machine noise hits them alike.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from core.text_encoder import OnnxSentenceEncoder

QUERIES = [
    "a man riding a horse on a beach",
    "red flower",
    "a cat sleeping on a sofa next to the window",
    "stars",
    "an old map of the world with ships and sea monsters",
    "two children flying a kite in a park on a windy day",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.encoder_latency", description=__doc__)
    parser.add_argument("--encoder", type=Path, action="append", required=True, help="ONNX encoder folder")
    parser.add_argument("--runs", type=int, default=200, help="single queries per encoder")
    parser.add_argument("--batches", type=int, default=5, help="batches of 64 captions per encoder")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: its default)")
    args = parser.parse_args(argv)

    encoders = {folder: OnnxSentenceEncoder(folder, threads=args.threads or None) for folder in args.encoder}
    for encoder in encoders.values():
        encoder.encode(QUERIES)  # warm up
    single: dict[Path, list[float]] = {folder: [] for folder in encoders}
    for i in range(args.runs):
        for folder, encoder in encoders.items():
            started = time.perf_counter()
            encoder.encode([QUERIES[i % len(QUERIES)]])
            single[folder].append((time.perf_counter() - started) * 1000)
    captions = [QUERIES[i % len(QUERIES)] for i in range(64)]
    batch: dict[Path, list[float]] = {folder: [] for folder in encoders}
    for _ in range(args.batches):
        for folder, encoder in encoders.items():
            started = time.perf_counter()
            encoder.encode(captions, batch_size=64)
            batch[folder].append(time.perf_counter() - started)

    first = args.encoder[0]
    print("| encoder | dim | query median ms | query p99 ms | ratio to first | captions/s (batch 64) |")
    print("|---|---|---|---|---|---|")
    for folder, encoder in encoders.items():
        times = np.array(single[folder])
        ratio = np.median(times) / np.median(single[first])
        rate = 64 / float(np.median(batch[folder]))
        print(
            f"| {folder.name} | {encoder.dim} | {np.median(times):.1f} | {np.percentile(times, 99):.1f} "
            f"| {ratio:.2f} | {rate:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
