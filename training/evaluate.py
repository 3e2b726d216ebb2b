"""Score a checkpoint on a held-out split against two baselines measured in the same run.

    python -m training.evaluate --checkpoint RUN/best.pt --dataset DATA [--split test] [--out S.json]

Metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D from pycocoevalcap (its PTB tokenizer and METEOR
run on Java). Baselines: the most frequent training caption for every image, and the first
caption of the nearest training image by cosine similarity of mean-pooled encoder features.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from training.caption import Captioner, load_captioner
from training.data import ImageRecord, default_image_root, load_dataset, select
from training.features import cached_features, encode_images

log = logging.getLogger(__name__)

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")


def score_captions(
    references: Mapping[str, Sequence[str]], hypotheses: Mapping[str, str]
) -> dict[str, float]:
    """COCO caption metrics; `references` and `hypotheses` are raw strings keyed by image id."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    if set(references) != set(hypotheses):
        raise ValueError("references and hypotheses must cover the same images")
    if not references:
        raise ValueError("nothing to score")
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in refs] for k, refs in references.items()})
    # An empty hypothesis crashes METEOR's Java side; a placeholder scores zero just the same.
    res = tokenizer.tokenize({k: [{"caption": h or "<empty>"}] for k, h in hypotheses.items()})
    res = {k: [v[0] or "empty"] for k, v in res.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    meteor, _ = Meteor().compute_score(gts, res)  # its Java process ends when the scorer is collected
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    values = [*bleu, meteor, rouge, cider]
    return {name: float(v) for name, v in zip(METRICS, values, strict=True)}


def most_frequent_caption(train: Sequence[ImageRecord]) -> str:
    """The training caption that occurs most often (ties: alphabetical)."""
    counts = Counter(" ".join(c) for r in train for c in r.captions if c)
    if not counts:
        raise ValueError("no training captions")
    return min(counts, key=lambda c: (-counts[c], c))


def nearest_neighbour_captions(
    train: Sequence[ImageRecord], train_feats: torch.Tensor, test_feats: torch.Tensor
) -> list[str]:
    """For each test image, the first caption of the most similar training image.

    Features are grids (N, P, E); similarity is the cosine of their means over positions."""
    a = torch.nn.functional.normalize(train_feats.float().mean(1), dim=1)  # (N, E)
    b = torch.nn.functional.normalize(test_feats.float().mean(1), dim=1)  # (M, E)
    nearest = (b @ a.T).argmax(dim=1)  # (M,)
    return [" ".join(train[int(i)].captions[0]) for i in nearest]


def _features(
    captioner: Captioner, root: Path, records: Sequence[ImageRecord], cache_dir: Path | None
) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = captioner.config
    if cache_dir is not None and cfg.fine_tune_blocks == 0:  # a frozen encoder gives the cached features
        return cached_features(
            cache_dir, captioner.model.encoder, root, records, cfg, device=captioner.device
        )
    return encode_images(
        captioner.model.encoder, root, [r.path for r in records], cfg, device=captioner.device
    )


def evaluate(
    checkpoint: Path,
    dataset: Path,
    split: str = "test",
    beam_size: int = 3,
    max_length: int = 20,
    image_root: Path | None = None,
    cache_dir: Path | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Scores of the model and both baselines on `split`, plus a few example captions."""
    captioner = load_captioner(checkpoint, device)
    records = load_dataset(dataset)
    root = image_root or default_image_root(dataset)
    train, test = select(records, "train"), select(records, split)
    test_feats, test_ok = _features(captioner, root, test, cache_dir)
    train_feats, train_ok = _features(captioner, root, train, cache_dir)
    keep = [i for i in range(len(test)) if test_ok[i] and any(test[i].captions)]
    test = [test[i] for i in keep]
    test_feats = test_feats[keep]
    train_rows = [i for i in range(len(train)) if train_ok[i] and any(train[i].captions)]
    train = [train[i] for i in train_rows]
    train_feats = train_feats[train_rows]

    hyps: list[str] = []
    for start in range(0, len(test), 64):
        results = captioner.caption_features(test_feats[start : start + 64], beam_size, max_length)
        hyps.extend(r.text for r in results)
    refs = {r.image_id: [" ".join(c) for c in r.captions if c] for r in test}
    ids = [r.image_id for r in test]
    frequent = most_frequent_caption(train)
    nn_caps = nearest_neighbour_captions(train, train_feats, test_feats)
    return {
        "split": split,
        "images": len(test),
        "beam_size": beam_size,
        "model": score_captions(refs, dict(zip(ids, hyps, strict=True))),
        "nearest_neighbour": score_captions(refs, dict(zip(ids, nn_caps, strict=True))),
        "most_frequent": score_captions(refs, dict.fromkeys(ids, frequent)),
        "most_frequent_caption": frequent,
        "examples": [
            {"image": r.path, "model": h, "nearest_neighbour": n, "references": refs[r.image_id]}
            for r, h, n in list(zip(test, hyps, nn_caps, strict=True))[:15]
        ],
    }


def format_table(scores: dict[str, Any]) -> str:
    rows: list[tuple[str, ...]] = [("system", *METRICS)]
    for name in ("model", "nearest_neighbour", "most_frequent"):
        rows.append((name, *(f"{scores[name][m] * 100:.1f}" for m in METRICS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([lines[0], "-+-".join("-" * w for w in widths), *lines[1:]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--dataset", required=True, type=Path, help="as for training.train")
    p.add_argument("--split", default="test")
    p.add_argument("--beam", type=int, default=3)
    p.add_argument("--image-root", type=Path)
    p.add_argument("--cache-dir", type=Path)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, help="write all scores as JSON here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    scores = evaluate(
        args.checkpoint, args.dataset, args.split, args.beam, 20, args.image_root, args.cache_dir, args.device
    )
    if args.out:
        args.out.write_text(json.dumps(scores, indent=2), encoding="utf-8")
    print(f"{scores['images']} {args.split} images, beam {args.beam} (scores x100)")
    print(format_table(scores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
