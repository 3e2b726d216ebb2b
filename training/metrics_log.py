"""Training metrics as JSON lines, and a PNG of the curves drawn from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_curves(jsonl: Path, png: Path) -> None:
    """Loss (train and validation) and validation CIDEr/BLEU-4 per epoch, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r for r in read_jsonl(jsonl) if r.get("event") == "epoch"]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    xs = [r["epoch"] for r in epochs]
    ax_loss.plot(xs, [r["train_ce"] for r in epochs], marker="o", label="train cross-entropy")
    ax_loss.plot(xs, [r["val_ce"] for r in epochs], marker="o", label="val cross-entropy")
    ax_loss.set_xlabel("epoch")
    ax_loss.legend()
    ax_metric.plot(xs, [r["val_cider"] for r in epochs], marker="o", label="val CIDEr-D")
    ax_metric.plot(xs, [r["val_bleu4"] for r in epochs], marker="o", label="val BLEU-4")
    ax_metric.set_xlabel("epoch")
    ax_metric.legend()
    fig.tight_layout()
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)
