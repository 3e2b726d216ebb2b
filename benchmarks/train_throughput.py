"""Training throughput in captions per second (forward + backward + Adam step).

    python benchmarks/train_throughput.py [--device cpu] [--steps 20]

Rows: the decoder alone on cached features (the fast CPU path) for the demo and paper sizes, and
encoder fine-tuning of the top 2 EfficientNet-Lite0 blocks on 224 px images. Captions are random
ids of a realistic length (12 words); median and p99 step time; ratio to the first row.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from training.model import ModelConfig, ShowAttendTell, caption_loss
from training.train import PRESETS


def bench(config: ModelConfig, batch: int, steps: int, device: str, from_images: bool) -> list[float]:
    torch.manual_seed(0)
    model = ShowAttendTell(config).to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)
    captions = torch.randint(4, config.vocab_size, (batch, 14), device=device)
    captions[:, 0] = 1
    lengths = torch.full((batch,), 14, device=device)
    if from_images:
        x = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
    else:
        x = torch.randn(batch, config.num_pixels, config.encoder_dim, device=device)
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        feats = model.encoder(x) if from_images else x
        logits, alphas = model.decoder(feats, captions)
        loss, _ = caption_loss(logits, alphas, captions, lengths, 1.0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times[2:]  # first steps warm up allocators


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    demo = PRESETS["demo"]["model"]
    rows = [
        (
            "decoder, demo sizes, cached features",
            ModelConfig(vocab_size=3000, pretrained=False, **demo),
            False,
        ),
        ("decoder, paper sizes, cached features", ModelConfig(vocab_size=7500, pretrained=False), False),
        ("fine-tune top 2 encoder blocks, 224 px", ModelConfig(vocab_size=7500, fine_tune_blocks=2), True),
    ]
    print(f"device={args.device} threads={torch.get_num_threads()} batch={args.batch} caption=12 words")
    print(f"{'configuration':<40} {'captions/s':>10} {'median ms/step':>14} {'p99 ms/step':>11} {'ratio':>6}")
    base = None
    for name, cfg, images in rows:
        steps = max(3, args.steps // 4) if images and args.device == "cpu" else args.steps
        times = bench(cfg, args.batch, steps, args.device, images)
        rate = args.batch / statistics.median(times)
        base = base or rate
        p99 = sorted(times)[min(len(times) - 1, int(0.99 * len(times)))]
        print(
            f"{name:<40} {rate:>10.0f} {statistics.median(times) * 1e3:>14.0f} {p99 * 1e3:>11.0f} "
            f"{rate / base:>6.2f}"
        )


if __name__ == "__main__":
    main()
