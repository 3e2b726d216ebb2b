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

from core.text_encoder import OnnxSentenceEncoder
from evaluation.labels import describe_split
from evaluation.out_of_domain import recall
from indexing.stages import mix_tags
from indexing.tagging.tagger import DEFAULT_TAG_OPTIONS
from indexing.tagging.tags import TagOptions, image_tags
from indexing.tagging.vocabulary import load_vocabulary

WEIGHTS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0)
TAG_SETTINGS = (TagOptions(3, 5), TagOptions(5, 5), TagOptions(5, 6), TagOptions(5, 7), TagOptions(5, 6, 0.1))


def screen_parser(description: str | None) -> argparse.ArgumentParser:
    """The arguments every validation screen of tags takes: a checkpoint, datasets, a split, caches."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--encoder-dir", type=Path, default=Path(".data/cache/minilm-onnx"))
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--cache", type=Path, default=Path(".data/tag-mix"), help="captions and classes")
    return parser


def describe_sets(
    args: argparse.Namespace, encoder: OnnxSentenceEncoder
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per dataset (its folder's name): ``labels.describe_split`` of the chosen split, cached."""
    return {
        path.parent.name: describe_split(
            args.checkpoint, path, args.split, encoder, args.cache / f"{path.parent.name}-{args.split}"
        )
        for path in args.dataset
    }


def main() -> None:
    parser = screen_parser(__doc__)
    parser.add_argument("--all-options", action="store_true", help="also the other tag options tried")
    args = parser.parse_args()
    vocabulary = load_vocabulary()
    encoder = OnnxSentenceEncoder(args.encoder_dir)
    sets = describe_sets(args, encoder)
    names = list(sets)
    header = " | ".join(f"{name} R@1/5/10" for name in names)
    print(f"| tags | weight | {header} | mean R@10 |\n|---|---|" + "---|" * (len(names) + 1))
    for options in TAG_SETTINGS if args.all_options else (DEFAULT_TAG_OPTIONS,):
        for weight in WEIGHTS:
            cells, tens = [], []
            for captions, probabilities, queries in sets.values():
                tags = [
                    [(t.text, t.confidence) for t in image]
                    for image in image_tags(probabilities, vocabulary, options)
                ]
                scores = recall(queries, mix_tags(captions, encoder, tags, weight))
                cells.append("/".join(f"{s:.3f}" for s in scores))
                tens.append(scores[-1])
            label = f"top {options.top_classes}, depth >= {options.min_depth}, p >= {options.min_confidence}"
            print(f"| {label} | {weight} | " + " | ".join(cells) + f" | {np.mean(tens):.3f} |")


if __name__ == "__main__":
    main()
