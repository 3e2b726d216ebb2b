from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.training.conftest import tiny_config
from training.checkpoint import CheckpointMismatch, read_checkpoint
from training.data import load_karpathy, select
from training.model import ModelConfig, ShowAttendTell
from training.synthetic import make_shapes_dataset
from training.train import parse_args, train
from training.vocab import Vocabulary

ROOT = Path(__file__).resolve().parents[2]


def _vocab(dataset: Path) -> Vocabulary:
    return Vocabulary.build(c for r in select(load_karpathy(dataset), "train") for c in r.captions)


def test_tiny_run_learns_and_writes_its_artifacts(tiny_run: Path) -> None:
    epochs = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == list(range(1, 26))
    assert epochs[-1]["train_ce"] < 0.6 * epochs[0]["train_ce"]
    assert max(e["val_cider"] for e in epochs) > 0.5
    assert (tiny_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ck = read_checkpoint(tiny_run / "last.pt")
    assert ck["epoch"] == 25 and ck["batches_done"] == 0 and "optimizer" in ck


def test_interrupted_run_resumes_to_the_same_weights(shapes_json: Path, tmp_path: Path) -> None:
    straight = train(tiny_config(shapes_json, tmp_path / "a", epochs=2))
    stopped = train(tiny_config(shapes_json, tmp_path / "b", epochs=2, max_steps=5))
    assert stopped.name == "last.pt"
    assert read_checkpoint(stopped)["batches_done"] == 5
    train(tiny_config(shapes_json, tmp_path / "b", epochs=2, resume=str(stopped)))
    a = read_checkpoint(straight.parent / "last.pt")["model"]
    b = read_checkpoint(tmp_path / "b" / "last.pt")["model"]
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_resume_refuses_another_config_or_vocabulary(
    tiny_run: Path, shapes_json: Path, tmp_path: Path
) -> None:
    last = str(tiny_run / "last.pt")
    cfg = tiny_config(shapes_json, tmp_path / "c", resume=last)
    wider = tiny_config(shapes_json, tmp_path / "c", resume=last, model={**cfg.model, "decoder_dim": 64})
    with pytest.raises(CheckpointMismatch, match="config differs: decoder_dim 48 vs 64"):
        train(wider)
    other = make_shapes_dataset(tmp_path / "other", n_images=30, image_px=32, seed=5)
    data = json.loads(other.read_text())
    data["images"][0]["sentences"].append({"tokens": ["purple", "hexagon"]})
    data["images"][0]["split"] = "train"
    other.write_text(json.dumps(data))
    with pytest.raises(CheckpointMismatch, match="vocabulary differs"):
        train(tiny_config(other, tmp_path / "d", resume=last))


def test_early_stopping(shapes_json: Path, tmp_path: Path) -> None:
    train(tiny_config(shapes_json, tmp_path / "e", epochs=6, lr=0.0, patience=2))
    lines = (tmp_path / "e" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3  # epoch 1 sets the best; two epochs without a gain stop it


def test_cli_presets_and_overrides() -> None:
    tc = parse_args(
        ["--dataset", "d.json", "--out", "r", "--preset", "demo", "--epochs", "3", "--decoder-dim", "64"]
    )
    assert tc.epochs == 3 and tc.lr == 1e-3
    assert tc.model["decoder_dim"] == 64 and tc.model["embed_dim"] == 256
    assert (tc.label_smoothing, tc.max_per_caption, tc.augment) == (0.0, None, ())
    tc = parse_args(
        [
            *("--dataset", "d.json", "--out", "r"),
            *("--label-smoothing", "0.1", "--max-per-caption", "20", "--augment", "composite,mirror"),
        ]
    )
    assert (tc.label_smoothing, tc.max_per_caption, tc.augment) == (0.1, 20, ("composite", "mirror"))


def test_augment_views_are_cached_once_and_add_a_sample_per_caption(
    shapes_json: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "features"
    train(tiny_config(shapes_json, tmp_path / "plain", epochs=1, cache_dir=str(cache)))
    train(tiny_config(shapes_json, tmp_path / "aug", epochs=1, cache_dir=str(cache), augment=("mirror",)))
    assert len(list(cache.glob("features-*.pt"))) == 3  # train, val, mirrored train
    steps = [
        json.loads((tmp_path / run / "metrics.jsonl").read_text().splitlines()[0])["step"]
        for run in ("plain", "aug")
    ]
    assert steps[1] in (2 * steps[0] - 1, 2 * steps[0])
    with pytest.raises(ValueError, match="unknown augment view 'blur'"):
        train(tiny_config(shapes_json, tmp_path / "bad", epochs=1, augment=("blur",)))


def test_max_per_caption_trims_repeated_captions_before_the_vocabulary(
    shapes_json: Path, tmp_path: Path
) -> None:
    train(tiny_config(shapes_json, tmp_path / "capped", epochs=1, max_per_caption=1))
    full = _vocab(shapes_json)
    capped = read_checkpoint(tmp_path / "capped" / "best.pt")
    assert len(capped["vocab"]) <= len(full)
    first = json.loads((tmp_path / "capped" / "metrics.jsonl").read_text().splitlines()[0])
    samples = len({c for r in select(load_karpathy(shapes_json), "train") for c in r.captions})
    assert first["step"] == -(-samples // 16)  # one sample per distinct caption, batch 16


@pytest.mark.slow
def test_ddp_two_cpu_processes_with_gloo(shapes_json: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "training.train",
        "--dataset",
        str(shapes_json),
        "--out",
        str(tmp_path / "ddp"),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--batch-size",
        "16",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ck = read_checkpoint(tmp_path / "ddp" / "last.pt")
    n_train = sum(2 for img in json.loads(shapes_json.read_text())["images"] if img["split"] == "train")
    per_rank = -(-n_train // 2)
    assert ck["step"] == -(-per_rank // 16)  # each rank ran half the batches of one epoch


def test_fine_tuning_trains_the_top_encoder_block_from_images(shapes_json: Path, tmp_path: Path) -> None:
    cfg = tiny_config(shapes_json, tmp_path / "ft", epochs=1)
    cfg = tiny_config(
        shapes_json, tmp_path / "ft", epochs=1, encoder_lr=1e-2, model={**cfg.model, "fine_tune_blocks": 1}
    )
    torch.manual_seed(cfg.seed)  # train() builds its model from the same seed
    before = ShowAttendTell(ModelConfig(vocab_size=len(_vocab(shapes_json)), **cfg.model)).state_dict()
    train(cfg)
    after = read_checkpoint(tmp_path / "ft" / "last.pt")["model"]
    conv = "encoder.backbone.body.1.0.weight"
    assert not torch.equal(before[conv], after[conv])  # fine-tuned
    assert (tmp_path / "ft" / "best.pt").is_file()


def test_init_from_starts_from_a_checkpoint_with_a_fresh_optimizer(
    tiny_run: Path, shapes_json: Path, tmp_path: Path
) -> None:
    start = read_checkpoint(tiny_run / "best.pt")
    cfg = tiny_config(shapes_json, tmp_path / "init", epochs=1)
    fine_tune = {**cfg.model, "fine_tune_blocks": 1}
    still = tiny_config(
        shapes_json, tmp_path / "init", epochs=1, lr=0.0, encoder_lr=0.0, init_from=str(tiny_run / "best.pt"),
        model=fine_tune,
    )  # fmt: skip
    train(still)
    after = read_checkpoint(tmp_path / "init" / "last.pt")
    assert after["epoch"] == 1 and after["model_config"]["fine_tune_blocks"] == 1  # a new run, not a resume
    decoder = [name for name in start["model"] if name.startswith("decoder.")]
    assert decoder and all(
        torch.equal(start["model"][n], after["model"][n]) for n in decoder
    )  # lr 0 kept them
    wider = tiny_config(
        shapes_json,
        tmp_path / "wider",
        init_from=str(tiny_run / "best.pt"),
        model={**fine_tune, "decoder_dim": 64},
    )
    with pytest.raises(CheckpointMismatch, match="config differs: decoder_dim 48 vs 64"):
        train(wider)
    both = tiny_config(
        shapes_json, tmp_path / "both", init_from=str(tiny_run / "best.pt"), resume=str(tiny_run / "last.pt")
    )
    with pytest.raises(ValueError, match="--resume .* or --init-from .*, not both"):
        train(both)
