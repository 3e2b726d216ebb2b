"""Train the captioner: `python -m training.train --dataset DATA --out RUN_DIR [--preset demo]`.

DATA is a Karpathy-split JSON, a COCO captions JSON or a COCO 2017 folder (`training.data.load_dataset`).
Single process or `torchrun --nproc_per_node N -m training.train ...` (DDP; gloo on the CPU, NCCL
on GPUs). Writes RUN_DIR/last.pt (every `checkpoint_every` steps, at each epoch end and on
interrupt), RUN_DIR/best.pt (best validation CIDEr-D), metrics.jsonl and curves.png.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from training import loop
from training.checkpoint import check_config, check_vocab, read_checkpoint, save_checkpoint
from training.config import PRESETS, TrainConfig
from training.data import cap_repeated_captions, load_dataset, select
from training.metrics_log import append_jsonl, plot_curves
from training.model import ModelConfig, ShowAttendTell, caption_loss
from training.train_data import training_datasets
from training.vocab import Vocabulary

# PRESETS and TrainConfig live in training.config; importing them from here keeps working.
__all__ = ["PRESETS", "TrainConfig", "main", "parse_args", "pick_device", "train"]

log = logging.getLogger("training.train")


class _StepLimit(Exception):
    """`max_steps` reached: stop cleanly as an interrupted run would, checkpoint included."""


def pick_device(name: str, info: loop.DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and info.world_size > 1:
        return torch.device("cuda", info.local_rank)
    return torch.device(name)


def _optimizer(tc: TrainConfig, model: ShowAttendTell) -> torch.optim.Adam:
    groups = [{"params": list(model.decoder.parameters()), "lr": tc.lr}]
    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    if encoder_params:
        groups.append({"params": encoder_params, "lr": tc.encoder_lr})
    return torch.optim.Adam(groups)


def _step(
    net: torch.nn.Module,
    model: ShowAttendTell,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    tc: TrainConfig,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on one batch; returns (loss, cross-entropy)."""
    x, captions, lengths = (t.to(device) for t in batch)
    with loop.autocast(device):
        logits, alphas = net(x, captions)
    loss, ce = caption_loss(logits.float(), alphas.float(), captions, lengths, tc.alpha_c, tc.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), ce.detach()


def train(tc: TrainConfig) -> Path:
    """Run (or resume) training; returns the best checkpoint's path (last.pt if `max_steps` stopped it)."""
    info = loop.dist_from_env()
    if info.world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if tc.device != "cpu" and torch.cuda.is_available() else "gloo")
    device = pick_device(tc.device, info)
    torch.manual_seed(tc.seed)
    out = Path(tc.out_dir)
    records = load_dataset(Path(tc.dataset))
    train_recs, val_recs = select(records, "train"), select(records, "val")
    if tc.max_per_caption is not None:
        train_recs = cap_repeated_captions(train_recs, tc.max_per_caption)
    if not train_recs:
        raise ValueError(f"no training images in {tc.dataset}")
    vocab = Vocabulary.build((c for r in train_recs for c in r.captions), tc.min_count, tc.max_vocab)
    config = ModelConfig(vocab_size=len(vocab), **tc.model)
    if tc.resume and tc.init_from:
        raise ValueError(
            "give --resume (continue a run) or --init-from (start one from its weights), not both"
        )
    ckpt = read_checkpoint(Path(tc.resume)) if tc.resume else None
    if ckpt is not None:
        check_vocab(ckpt, vocab)
        check_config(ckpt, config)
    model = ShowAttendTell(config).to(device)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
    elif tc.init_from:
        start = read_checkpoint(Path(tc.init_from))
        check_vocab(start, vocab)
        check_config(start, config, ignore=("pretrained", "fine_tune_blocks"))
        model.load_state_dict(start["model"])
    from_features = config.fine_tune_blocks == 0

    train_ds, val_feats = training_datasets(tc, model, train_recs, val_recs, vocab, device, info)
    net: torch.nn.Module = loop.CaptionNet(model, from_features)
    if info.world_size > 1:
        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = _optimizer(tc, model)
    scaler = torch.amp.GradScaler(
        "cuda", enabled=device.type == "cuda" and not torch.cuda.is_bf16_supported()
    )
    state = {"epoch": 0, "batches_done": 0, "step": 0, "best_cider": -1.0, "bad_epochs": 0}
    # Reseed after set-up (which may or may not have run the encoder) so dropout masks depend only
    # on the seed and the step; a resumed run restores this generator from the checkpoint.
    torch.manual_seed(tc.seed + 1 + info.rank)
    if ckpt is not None:
        if ckpt.get("optimizer"):
            optimizer.load_state_dict(ckpt["optimizer"])
        state.update({k: ckpt[k] for k in state if k in ckpt})
        if "rng" in ckpt:
            torch.set_rng_state(ckpt["rng"])

    def snapshot(path: Path) -> None:
        payload = {
            "model_config": config.to_dict(),
            "train_config": tc.to_dict(),
            "vocab": vocab.to_list(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            **state,
        }
        save_checkpoint(path, payload)

    steps_here = 0
    metrics_path = out / "metrics.jsonl"
    try:
        while state["epoch"] < tc.epochs:
            epoch = int(state["epoch"])
            net.train()
            it, total = loop.batches(
                train_ds, tc.batch_size, epoch, tc.seed, info, int(state["batches_done"]), tc.num_workers
            )
            meter, sums = loop.RateMeter(), {"loss": 0.0, "ce": 0.0, "n": 0}
            bar = loop.progress(
                total, int(state["batches_done"]), f"epoch {epoch + 1}/{tc.epochs}", info.is_main
            )
            for x, captions, lengths in it:
                loss, ce = _step(net, model, optimizer, scaler, (x, captions, lengths), tc, device)
                state["batches_done"] += 1
                state["step"] += 1
                steps_here += 1
                meter.add(len(captions) * info.world_size)
                sums["loss"] += loss.item() * len(captions)
                sums["ce"] += ce.item() * len(captions)
                sums["n"] += len(captions)
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", cap_s=f"{meter.rate:.0f}")
                if info.is_main and state["step"] % tc.checkpoint_every == 0:
                    snapshot(out / "last.pt")
                if tc.max_steps is not None and steps_here >= tc.max_steps:
                    raise _StepLimit
            bar.close()
            state["epoch"] += 1
            state["batches_done"] = 0
            stop = _end_of_epoch(tc, model, vocab, val_recs, val_feats, device, info, state, sums, meter)
            if info.is_main:
                append_jsonl(metrics_path, {"event": "epoch", "epoch": state["epoch"], **stop[1]})
                if stop[1]["improved"]:
                    snapshot(out / "best.pt")
                snapshot(out / "last.pt")
            if stop[0]:
                log.info("early stop: no CIDEr-D gain for %d epochs", tc.patience)
                break
        loop.barrier(info)  # rank 0 may still be writing checkpoints; leave the group together
    except (KeyboardInterrupt, _StepLimit) as exc:
        if info.is_main:
            snapshot(out / "last.pt")
            log.warning(
                "stopped at epoch %d batch %d; saved %s",
                state["epoch"],
                state["batches_done"],
                out / "last.pt",
            )
        if isinstance(exc, KeyboardInterrupt):
            raise
        return out / "last.pt"
    finally:
        # A rank that tore down its gloo group while rank 0 was still busy was seen to abort at exit
        # (SIGABRT, "terminate called without an active exception"), so no drawing before this.
        if info.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()
        if info.is_main and metrics_path.is_file():
            plot_curves(metrics_path, out / "curves.png")  # once per run: drawing costs ~0.25 s
    best = out / "best.pt"
    if info.is_main and not best.exists():
        snapshot(best)
    return best


def _end_of_epoch(
    tc: TrainConfig,
    model: ShowAttendTell,
    vocab: Vocabulary,
    val_recs: list[Any],
    val_feats: torch.Tensor | None,
    device: torch.device,
    info: loop.DistInfo,
    state: dict[str, Any],
    sums: dict[str, float],
    meter: loop.RateMeter,
) -> tuple[bool, dict[str, Any]]:
    """Validate on rank 0, update early-stopping state; every rank gets the same stop decision."""
    row: dict[str, Any] = {
        "train_loss": sums["loss"] / max(sums["n"], 1),
        "train_ce": sums["ce"] / max(sums["n"], 1),
        "captions_per_s": meter.rate,
        "step": state["step"],
    }
    stop = torch.zeros(1)
    if info.is_main:
        root = tc.image_root_path()
        scores = loop.validate(
            model, vocab, val_recs, val_feats, root, tc.max_words, tc.alpha_c, tc.val_beam, device
        )
        row.update(val_ce=scores["ce"], val_bleu4=scores["bleu4"], val_cider=scores["cider"])
        row["improved"] = scores["cider"] > state["best_cider"]
        if row["improved"]:
            state["best_cider"], state["bad_epochs"] = scores["cider"], 0
        else:
            state["bad_epochs"] += 1
        stop[0] = float(state["bad_epochs"] >= tc.patience)
        log.info(
            "epoch %d: %s",
            state["epoch"],
            {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()},
        )
    if info.world_size > 1:
        dist.broadcast(stop, src=0)
    return bool(stop[0]), row


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    p.add_argument(
        "--dataset",
        required=True,
        help="a Karpathy-split JSON, a COCO captions JSON, or a COCO 2017 folder (annotations/, "
        "train2017/, val2017/)",
    )
    p.add_argument("--out", required=True, help="run directory for checkpoints and logs")
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--image-root", help="default: the COCO 2017 folder, or the JSON's folder")
    p.add_argument("--cache-dir")
    p.add_argument("--resume", help="checkpoint to continue from (e.g. RUN/last.pt)")
    p.add_argument(
        "--init-from",
        help="start from this checkpoint's weights with a fresh optimizer (e.g. a frozen-encoder run's "
        "best.pt, to fine-tune its encoder with --fine-tune-blocks)",
    )
    for name, typ in [
        ("epochs", int),
        ("batch-size", int),
        ("lr", float),
        ("encoder-lr", float),
        ("grad-clip", float),
        ("alpha-c", float),
        ("max-words", int),
        ("min-count", int),
        ("max-vocab", int),
        ("patience", int),
        ("seed", int),
        ("num-workers", int),
        ("val-beam", int),
        ("checkpoint-every", int),
        ("max-steps", int),
        ("device", str),
        ("label-smoothing", float),
        ("max-per-caption", int),
    ]:
        p.add_argument(f"--{name}", type=typ)
    p.add_argument(
        "--augment",
        type=lambda text: tuple(v for v in text.split(",") if v),
        help="comma-separated extra cached views of each training image (training.augment.VIEWS)",
    )
    for name, typ in [
        ("backbone", str),
        ("image-size", int),
        ("grid-size", int),
        ("fine-tune-blocks", int),
        ("embed-dim", int),
        ("attention-dim", int),
        ("decoder-dim", int),
        ("dropout", float),
    ]:
        p.add_argument(f"--{name}", type=typ, dest=f"model_{name.replace('-', '_')}")
    args = p.parse_args(argv)
    preset = dict(PRESETS[args.preset])
    model_cfg = dict(preset.pop("model", {}))
    values = {k: v for k, v in vars(args).items() if v is not None}
    for key in list(values):
        if key.startswith("model_"):
            model_cfg[key[len("model_") :]] = values.pop(key)
    values.pop("preset")
    values["out_dir"] = values.pop("out")
    return TrainConfig(**{**preset, **values, "model": model_cfg})


def _sigterm(signum: int, frame: object) -> None:
    # torchrun and schedulers stop jobs with SIGTERM; treat it like Ctrl-C so last.pt gets written.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        best = train(parse_args(argv))
    except KeyboardInterrupt:
        return 130
    print(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
