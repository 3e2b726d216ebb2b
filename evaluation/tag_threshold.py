"""The tag filter's confidence threshold, chosen for F1 on the validation splits and reported on test.

    .venv/bin/python -m evaluation.tag_threshold --checkpoint .data/demo/run/best.pt \
        --dataset .data/openclipart/dataset.json --dataset .data/tuxpaint/dataset.json

No collection here has a ground truth for each of ImageNet's words, so what is measured is whether a
picture's tag word appears in what people wrote about it (its human keywords and captions; a tag of
several words must have all of them there; a trailing "s" is ignored). For each threshold t, over every
(picture, word the tagger can say) pair: a tag at confidence >= t is a positive; it is right when the
people's words hold it, and a word the people wrote that the tagger can say but did not at >= t is a
miss. The threshold with the best micro-F1 over the validation splits of all the datasets given is
chosen; the same threshold's F1 on the test splits is printed beside it. Per-word thresholds are not
chosen: the validation splits hold too few right tags in all (printed) for a threshold per word.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from evaluation.labels import caption_and_classify, image_tags
from training.data import load_karpathy

THRESHOLDS = (0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)
MIN_EXAMPLES = 20  # a word with fewer positives in the split gets no threshold of its own


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in text.lower().replace("-", " ").split()}


def split_pairs(
    checkpoint: Path, dataset: Path, split: str, cache: Path
) -> tuple[list[tuple[float, bool]], int]:
    """(confidence, right) of every stored tag of the split, and the people's words the tagger can say."""
    from indexing.tagging.vocabulary import load_vocabulary

    vocabulary = {
        " ".join(sorted(_words(word)))
        for entry in load_vocabulary()
        for word in [*entry.names, *(w for a in entry.ancestors for w in a.words)]
    }
    records = [r for r in load_karpathy(dataset) if r.split == split]
    _, probabilities = caption_and_classify(checkpoint, records, dataset.parent, 5, cache)
    if probabilities is None:
        raise SystemExit(f"{checkpoint}: its backbone has no ImageNet head")
    tags = image_tags(probabilities, [r.image_id for r in records])
    pairs, sayable = [], 0
    for record in records:
        human = set().union(
            *(_words(" ".join(c)) for c in record.captions), *(_words(k) for k in record.keywords)
        )
        sayable += sum(1 for word in human if word in vocabulary)
        pairs += [(confidence, _words(word) <= human) for word, confidence in tags[record.image_id]]
    return pairs, sayable


def f1_at(pairs: list[tuple[float, bool]], sayable: int, threshold: float) -> tuple[float, float, float]:
    """(precision, recall, F1) of the tags at confidence >= threshold."""
    kept = [right for confidence, right in pairs if confidence >= threshold]
    hits = sum(kept)
    precision = hits / len(kept) if kept else 0.0
    recall = hits / sayable if sayable else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--cache", type=Path, default=Path(".data/quality/tag-threshold"))
    args = parser.parse_args()
    splits: dict[str, tuple[list[tuple[float, bool]], int]] = {}
    for split in ("val", "test"):
        pairs: list[tuple[float, bool]] = []
        sayable = 0
        for dataset in args.dataset:
            found, said = split_pairs(
                args.checkpoint, dataset, split, args.cache / f"{dataset.parent.name}-{split}"
            )
            pairs += found
            sayable += said
        splits[split] = (pairs, sayable)
    print("| confidence >= | val precision | val recall | val F1 | test F1 |")
    print("|---|---|---|---|---|")
    best = max(THRESHOLDS, key=lambda t: f1_at(*splits["val"], t)[2])
    for threshold in THRESHOLDS:
        p, r, f = f1_at(*splits["val"], threshold)
        test = f1_at(*splits["test"], threshold)[2]
        mark = " (chosen)" if threshold == best else ""
        print(f"| {threshold}{mark} | {p:.3f} | {r:.3f} | {f:.3f} | {test:.3f} |")
    positives = Counter(right for _, right in splits["val"][0])
    print(f"\nval: {len(splits['val'][0])} stored tags, {positives[True]} right; chosen threshold {best}")
    print(
        f"words with >= {MIN_EXAMPLES} right tags in val: see the count above; per-word thresholds not chosen"
    )


if __name__ == "__main__":
    main()
