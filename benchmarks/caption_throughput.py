"""Captioning throughput, end to end: image files -> decode/preprocess (DataLoader workers) ->
EfficientNet-Lite0 -> batched beam search -> text.

    python benchmarks/caption_throughput.py --dataset .data/openclipart/dataset.json \
        [--checkpoint .data/runs/openclipart/best.pt] [--images 256] [--device cpu] \
        [--precisions fp32,bf16] [--configs 1x1,16x1,16x3,64x3,64x5]

Without --checkpoint a randomly initialised decoder (paper sizes, 5,000 words) is timed; decode
cost hardly depends on the weights, except that beam search stops when every beam has ended.
Prints images/s per (precision, batch size, beam) with median and p99 batch latency, and the ratio to
the first row measured in the same run. bf16/fp16 run under torch.autocast (training/caption.py); fp16
needs CUDA. On a GPU machine, benchmarks/gpu.sh runs this sweep with the others as one command.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from training.caption import Captioner, load_captioner
from training.data import load_karpathy
from training.images import load_image
from training.model import ModelConfig, ShowAttendTell
from training.vocab import Vocabulary


class Files(Dataset[torch.Tensor]):
    def __init__(self, paths: list[Path], captioner: Captioner) -> None:
        self.paths, self.captioner = paths, captioner

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.captioner.preprocess(load_image(self.paths[i]))


def random_captioner(device: str, precision: str) -> Captioner:
    torch.manual_seed(0)
    vocab = Vocabulary.build([[f"w{i}" for i in range(4996)]])
    return Captioner(ShowAttendTell(ModelConfig(vocab_size=len(vocab))), vocab, device, precision)


def run(
    captioner: Captioner, paths: list[Path], batch: int, beam: int, workers: int
) -> tuple[float, list[float]]:
    loader = DataLoader(Files(paths, captioner), batch_size=batch, num_workers=workers)
    latencies = []
    start = last = time.perf_counter()
    for pixels in loader:
        captioner.caption_tensors(pixels, beam_size=beam, max_length=20)
        now = time.perf_counter()
        latencies.append(now - last)
        last = now
    return len(paths) / (time.perf_counter() - start), latencies


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--configs", default="1x1,16x1,16x3,64x3,64x5", help="BATCHxBEAM,...")
    p.add_argument("--precisions", default="fp32", help="fp32,bf16,fp16 (fp16: CUDA only)")
    args = p.parse_args()
    paths = [args.dataset.parent / r.path for r in load_karpathy(args.dataset)][: args.images]
    print(
        f"device={args.device} threads={torch.get_num_threads()} images={len(paths)} "
        f"workers={args.workers} checkpoint={'yes' if args.checkpoint else 'random decoder'}"
    )
    print(
        f"{'precision':>9} {'batch':>5} {'beam':>4} {'img/s':>7} {'median ms/batch':>15} "
        f"{'p99 ms/batch':>12} {'ratio':>6}"
    )
    base = None
    for precision in args.precisions.split(","):
        captioner = (
            load_captioner(args.checkpoint, args.device, precision)
            if args.checkpoint
            else random_captioner(args.device, precision)
        )
        run(captioner, paths[:8], 8, 1, 0)  # warm-up
        for spec in args.configs.split(","):
            batch, beam = (int(v) for v in spec.split("x"))
            rate, lat = run(captioner, paths, batch, beam, args.workers)
            base = base or rate
            p99 = sorted(lat)[min(len(lat) - 1, int(0.99 * len(lat)))]
            print(
                f"{precision:>9} {batch:>5} {beam:>4} {rate:>7.1f} {statistics.median(lat) * 1e3:>15.0f} "
                f"{p99 * 1e3:>12.0f} {rate / base:>6.2f}"
            )


if __name__ == "__main__":
    main()
