"""Choose how tags join captions in an image's embedding: R@k on validation splits by exact cosine.

    .venv/bin/python -m evaluation.tag_mix --checkpoint .data/demo/run/best.pt [--all-options] \
        --dataset .data/openclipart/dataset.json --dataset .data/tuxpaint/dataset.json --split val

Each picture is captioned and tagged from one backbone pass, as the indexer does (beam 5, the top 5
beams' probability-weighted mean embedding; tags from the ImageNet head); its first human caption is
the query. For each tag setting and weight it prints R@1/5/10 per dataset and their mean, in the full
MiniLM space (no PCA, no database, no gate): the screen docs/tags.md quotes to pick the defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.space import normalize_rows
from core.text_encoder import OnnxSentenceEncoder
from evaluation.out_of_domain import recall
from indexing import loaders
from indexing.stages import Captions, encode_images, mix_tags
from indexing.tagging.tagger import DEFAULT_TAG_OPTIONS, Tagger
from indexing.tagging.tags import TagOptions, image_tags
from training.caption import Captioner
from training.data import load_karpathy

WEIGHTS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0)
TAG_SETTINGS = (TagOptions(3, 5), TagOptions(5, 5), TagOptions(5, 6), TagOptions(5, 7), TagOptions(5, 6, 0.1))


def describe(
    dataset: Path, split: str, captioner: Captioner, tagger: Tagger, encoder: OnnxSentenceEncoder
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(caption embeddings (N, D), class probabilities (N, 1000), query embeddings (N, D)) of a split."""
    records = [r for r in load_karpathy(dataset) if r.split == split]
    captions, probabilities = [], []
    for start in range(0, len(records), 32):
        batch = records[start : start + 32]
        # captioner.preprocess composites transparency on white, as the indexer's decoder does.
        pixels = torch.stack([captioner.preprocess(Image.open(dataset.parent / r.path)) for r in batch])
        features = captioner.encode(pixels)  # (B, P, E)
        probabilities.append(tagger.probabilities(features))
        results = captioner.caption_features(features, beam_size=5, max_length=20)
        found = Captions(
            [r.text for r in results],
            np.array([r.score for r in results], dtype=np.float32),
            [[text for text, _ in r.alternatives[:4]] for r in results],
            [[score for _, score in r.alternatives[:4]] for r in results],
        )
        captions.append(encode_images(encoder, found))
    queries = normalize_rows(encoder.encode([" ".join(r.captions[0]) for r in records]))
    return np.concatenate(captions), np.concatenate(probabilities), queries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--encoder-dir", type=Path, default=Path(".data/cache/minilm-onnx"))
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--all-options", action="store_true", help="also the other tag options tried")
    args = parser.parse_args()
    captioner = loaders.captioner(args.checkpoint, "cpu")
    tagger = loaders.tagger(captioner.config.backbone)
    if tagger is None:
        raise SystemExit(f"backbone {captioner.config.backbone} has no ImageNet head: nothing to compare")
    encoder = OnnxSentenceEncoder(args.encoder_dir)
    sets = {path.parent.name: describe(path, args.split, captioner, tagger, encoder) for path in args.dataset}
    names = list(sets)
    header = " | ".join(f"{name} R@1/5/10" for name in names)
    print(f"| tags | weight | {header} | mean R@10 |\n|---|---|" + "---|" * (len(names) + 1))
    for options in TAG_SETTINGS if args.all_options else (DEFAULT_TAG_OPTIONS,):
        for weight in WEIGHTS:
            cells, tens = [], []
            for captions, probabilities, queries in sets.values():
                tags = [
                    [(t.text, t.confidence) for t in image]
                    for image in image_tags(probabilities, tagger.vocabulary, options)
                ]
                scores = recall(queries, mix_tags(captions, encoder, tags, weight))
                cells.append("/".join(f"{s:.3f}" for s in scores))
                tens.append(scores[-1])
            label = f"top {options.top_classes}, depth >= {options.min_depth}, p >= {options.min_confidence}"
            print(f"| {label} | {weight} | " + " | ".join(cells) + f" | {np.mean(tens):.3f} |")


if __name__ == "__main__":
    main()
