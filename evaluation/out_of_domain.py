"""First look at the out-of-domain set: captions, ImageNet tags and labels alone, by exact cosine.

    .venv/bin/python -m evaluation.out_of_domain --checkpoint .data/demo/run/best.pt --split val

Each Tux Paint picture (docs/out_of_domain.md) is captioned (beam 5, top 5 beams, probability-weighted
mean like the indexer) and classified by the same backbone pass (ImageNet head); its description is
the query. Recall@k by exact cosine in the full MiniLM space (no PCA, no database, no gate): a quick
screen for choosing what to integrate, not the service's number.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core.space import normalize_rows
from core.text_encoder import OnnxSentenceEncoder
from evaluation.labels import describe_split, label_texts
from indexing.tagging.tags import TagOptions, image_tags, tags_text
from indexing.tagging.vocabulary import load_vocabulary

KS = (1, 5, 10)


def recall(queries: np.ndarray, images: np.ndarray) -> list[float]:
    """Query i's relevant image is image i; R@k for each k in KS."""
    similarity = queries @ normalize_rows(images).T  # (Q, N)
    ranks = (similarity > np.diag(similarity)[:, None]).sum(axis=1)
    return [round(float((ranks < k).mean()), 3) for k in KS]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, default=Path(".data/tuxpaint/dataset.json"))
    parser.add_argument("--encoder-dir", type=Path, default=Path(".data/cache/minilm-onnx"))
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--cache", type=Path, default=Path(".data/tag-mix"), help="captions and classes")
    args = parser.parse_args()
    encoder = OnnxSentenceEncoder(args.encoder_dir)
    vocabulary = load_vocabulary()
    cache = args.cache / f"{args.dataset.parent.name}-{args.split}"
    captions, probs, queries = describe_split(args.checkpoint, args.dataset, args.split, encoder, cache)
    ids = [str(i) for i in range(len(probs))]
    top_names = [texts[0] for texts in label_texts(probs, ids).values()]
    print(f"| {args.split}, {len(probs)} pictures | R@1 | R@5 | R@10 |\n|---|---|---|---|")
    rows = {
        "labels only: top-5 ImageNet class names": normalize_rows(encoder.encode(top_names)),
        "captions (the checkpoint)": captions,
    }
    for top, depth in ((3, 5), (5, 6), (5, 8)):
        options = TagOptions(top_classes=top, min_depth=depth)
        tags = normalize_rows(encoder.encode([tags_text(t) for t in image_tags(probs, vocabulary, options)]))
        rows[f"tags (top {top} classes, depth >= {depth})"] = tags
        for weight in (0.5, 0.7):
            rows[f"tags (top {top}, depth >= {depth}) x {weight} + captions x {1 - weight:.1f}"] = (
                weight * tags + (1 - weight) * captions
            )
    for label, images in rows.items():
        print(f"| {label} | " + " | ".join(f"{value:.3f}" for value in recall(queries, images)) + " |")


if __name__ == "__main__":
    main()
