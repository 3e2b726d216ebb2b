"""Screen ConSE tag embeddings against the tags sentence, on validation splits, by exact cosine.

    OMP_NUM_THREADS=1 .venv/bin/python -m evaluation.conse --checkpoint .data/demo/run/best.pt \
        --dataset .data/openclipart/dataset.json --dataset .data/tuxpaint/dataset.json --split val

ConSE (Norouzi et al. 2014, "Zero-shot learning by convex combination of semantic embeddings"): the
tag part of an image's embedding is the classifier's probability-weighted mean of its top-T classes'
embeddings, each class embedded once, instead of one embedding of the joined tags sentence. The
picture's captions, classes and queries come from ``evaluation.labels.describe_split`` as in
``evaluation.tag_mix``; ranking is exact cosine in the full MiniLM space (no PCA, database or gate).
Prints R@1/5/10 per set, the mean R@10 and a paired bootstrap interval of its difference from the
tags sentence at its shipped weight (queries resampled within each set).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from core.class_tags import ClassWords
from core.space import normalize_rows
from core.text_encoder import OnnxSentenceEncoder
from evaluation.tag_mix import describe_sets, screen_parser
from indexing.stages import tags_sentence
from indexing.tagging.tagger import DEFAULT_TAG_OPTIONS, DEFAULT_TAG_WEIGHT
from indexing.tagging.tags import image_tags
from indexing.tagging.vocabulary import load_vocabulary

WEIGHTS = (0.4, 0.5, 0.6, 0.7, 0.8)
TOPS = (5, 10, 20)
TEMPERATURES = (0.5, 1.0, 2.0, 4.0)
KS = (1, 5, 10)


def ranks(queries: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(Q,) 0-based rank of query i's image i among all images by cosine."""
    similarity = queries @ normalize_rows(images).T  # (Q, N)
    return (similarity > np.diag(similarity)[:, None]).sum(axis=1)


def generic_words(entry: ClassWords, min_depth: int) -> list[str]:
    """The first word of each ancestor at ``min_depth`` or deeper, each once, nearest first."""
    return list(dict.fromkeys(a.words[0].lower() for a in entry.ancestors if a.depth >= min_depth))


class Embedder:
    """Each distinct text embedded once (the class-name table is a lookup, not an encoder call)."""

    def __init__(self, encoder: OnnxSentenceEncoder) -> None:
        self.encoder = encoder
        self.known: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self.known})
        if missing:
            for text, vector in zip(missing, self.encoder.encode(missing), strict=True):
                self.known[text] = np.asarray(vector, dtype=np.float32)
        return np.stack([self.known[t] for t in texts])  # (len(texts), D)


def class_tables(vocabulary: Sequence[ClassWords], embed: Embedder, min_depth: int) -> dict[str, np.ndarray]:
    """Ways to embed each of the C classes once: name -> (C, D) unit rows."""
    names = embed([c.names[0].lower() for c in vocabulary])  # (C, D)
    lemmas = normalize_rows(np.stack([embed([n.lower() for n in c.names]).mean(axis=0) for c in vocabulary]))
    generic = [generic_words(c, min_depth) for c in vocabulary]
    above = np.stack([embed(words).mean(axis=0) if words else np.zeros(names.shape[1]) for words in generic])
    every = np.stack(
        [
            embed([c.names[0].lower(), *words]).mean(axis=0)
            for c, words in zip(vocabulary, generic, strict=True)
        ]
    )
    sentences = embed([", ".join([c.names[0].lower(), *w]) for c, w in zip(vocabulary, generic, strict=True)])
    return {
        "class name": names,
        "mean of lemmas": lemmas,
        "name + mean of generic words (1:1)": normalize_rows(names + above),
        "mean of name and each generic word": normalize_rows(every),
        "class's own tags sentence": sentences,
        # hubness: every class row shares the direction of "an ImageNet thing"; take it out
        "mean of lemmas, centred": normalize_rows(lemmas - lemmas.mean(axis=0)),
    }


def conse(
    probabilities: np.ndarray, table: np.ndarray, top: int, temperature: float = 1.0, unit: bool = True
) -> np.ndarray:
    """(N, C) probabilities, (C, D) class table -> (N, D): sum over the top ``top`` classes of
    p_i^(1/temperature) x class i's row, p renormalised over those classes; ``unit`` normalises the
    sum, else it keeps the raw (not renormalised) probabilities, so an unsure classifier's part is short."""
    order = np.argsort(-probabilities, axis=1)[:, :top]  # (N, T)
    p = np.take_along_axis(probabilities, order, axis=1).astype(np.float64)  # (N, T)
    if unit:
        p = p ** (1.0 / temperature)
        p = p / p.sum(axis=1, keepdims=True)
    mixed = np.einsum("nt,ntd->nd", p, table[order])  # (N, D)
    return normalize_rows(mixed) if unit else mixed


def stored_tags_conse(split: Split, embed: Embedder) -> np.ndarray:
    """(N, D): each image's stored tags as sum(confidence x embedding of the word), normalised; an
    image without tags keeps its captions' embedding."""
    rows = [
        (embed([w for w, _ in t]) * np.array([c for _, c in t])[:, None]).sum(axis=0) if t else caption
        for t, caption in zip(split.tags, split.captions, strict=True)
    ]
    return normalize_rows(np.stack(rows))


def sentence_part(split: Split, embed: Embedder) -> np.ndarray:
    """(N, D) the shipped tag part: each image's tags read as one sentence (``stages.mix_tags``);
    an image without tags keeps its captions' embedding."""
    rows = embed([tags_sentence(t) or " " for t in split.tags])
    return np.where(np.array([bool(t) for t in split.tags])[:, None], rows, split.captions)


def mix(captions: np.ndarray, tag_part: np.ndarray, weight: float) -> np.ndarray:
    return normalize_rows(weight * tag_part + (1 - weight) * captions)


@dataclass(frozen=True)
class Split:
    captions: np.ndarray  # (N, D)
    probabilities: np.ndarray  # (N, 1000)
    queries: np.ndarray  # (N, D)
    tags: list[list[tuple[str, float]]]


def paired_interval(
    ours: Sequence[np.ndarray], reference: Sequence[np.ndarray], k: int = 10, resamples: int = 5000
) -> tuple[float, float, float]:
    """Mean over sets of R@k, ours minus reference, and a 95 % paired bootstrap interval (queries
    resampled within each set, the same picks on both sides)."""
    rng = np.random.default_rng(0)
    diffs = np.zeros(resamples)
    for a, b in zip(ours, reference, strict=True):
        hits = (a < k).astype(np.float64) - (b < k).astype(np.float64)  # (Q,)
        picks = rng.integers(0, len(hits), size=(resamples, len(hits)))
        diffs += hits[picks].mean(axis=1) / len(ours)
    point = float(np.mean([(a < k).mean() - (b < k).mean() for a, b in zip(ours, reference, strict=True)]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return point, float(low), float(high)


def held_out_gain(
    found: Sequence[Sequence[np.ndarray]], reference: int, k: int = 10, rounds: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Selection on half the queries, judged on the other half: ``found`` is per setting its ranks per
    set. Each round splits every set's queries in two at random, picks the setting with the best mean
    R@k on one half and measures its mean R@k minus setting ``reference``'s on the other half.
    Returns (rounds,) those held-out gains and (rounds,) the settings picked.

    The best of hundreds of settings on ~380 queries a set beats the reference by luck alone; this says
    what choosing the best is worth on queries it was not chosen on."""
    rng = np.random.default_rng(0)
    hits = [np.stack([r[i] < k for r in found]).astype(np.float64) for i in range(len(found[0]))]  # (S, Q)
    gains, picked = np.zeros(rounds), np.zeros(rounds, dtype=np.int64)
    for round_ in range(rounds):
        halves = [rng.permutation(h.shape[1]) < h.shape[1] // 2 for h in hits]  # per set (Q,) bool
        choose = np.mean([h[:, m].mean(axis=1) for h, m in zip(hits, halves, strict=True)], axis=0)  # (S,)
        judge = np.mean([h[:, ~m].mean(axis=1) for h, m in zip(hits, halves, strict=True)], axis=0)  # (S,)
        picked[round_] = int(np.argmax(choose))
        gains[round_] = judge[picked[round_]] - judge[reference]
    return gains, picked


TagPart = Callable[[Split], np.ndarray]  # a split -> its images' tag parts (N, D)


def conse_part(
    split: Split, table: np.ndarray, top: int, temperature: float, unit: bool = True
) -> np.ndarray:
    return conse(split.probabilities, table, top, temperature, unit)


def sentence_and_conse(split: Split, embed: Embedder, table: np.ndarray) -> np.ndarray:
    return normalize_rows(sentence_part(split, embed) + conse(split.probabilities, table, 10, 2.0))


def settings(tables: dict[str, np.ndarray], embed: Embedder) -> list[tuple[str, TagPart, tuple[float, ...]]]:
    """(label, tag part, mix weights) of every setting screened."""
    found: list[tuple[str, TagPart, tuple[float, ...]]] = [
        ("tags sentence (shipped)", partial(sentence_part, embed=embed), (0.0, *WEIGHTS, 1.0)),
        ("stored tags, word ConSE", partial(stored_tags_conse, embed=embed), (0.0, *WEIGHTS, 1.0)),
    ]
    for name, table in tables.items():
        for top in TOPS:
            for tau in TEMPERATURES:
                label = f"ConSE {name}, T={top}, temperature {tau}"
                found.append(
                    (label, partial(conse_part, table=table, top=top, temperature=tau), (*WEIGHTS, 1.0))
                )
            label = f"ConSE {name}, T={top}, raw p (not unit)"
            found.append(
                (
                    label,
                    partial(conse_part, table=table, top=top, temperature=1.0, unit=False),
                    (*WEIGHTS, 0.9),
                )
            )
    for name in ("mean of lemmas", "name + mean of generic words (1:1)"):
        label = f"tags sentence + ConSE {name}, T=10, temperature 2.0 (1:1)"
        found.append((label, partial(sentence_and_conse, embed=embed, table=tables[name]), WEIGHTS))
    return found


def main() -> None:
    parser = screen_parser(__doc__)
    parser.add_argument("--best", type=int, default=25, help="also list the best N settings by mean R@10")
    parser.add_argument(
        "--only", action="append", help="print only this setting (its exact label) beside the shipped one"
    )
    args = parser.parse_args()
    vocabulary = load_vocabulary()
    encoder = OnnxSentenceEncoder(args.encoder_dir, threads=1)
    embed = Embedder(encoder)
    sets: dict[str, Split] = {}
    for name, (captions, probabilities, queries) in describe_sets(args, encoder).items():
        tags = [
            [(t.text, t.confidence) for t in i]
            for i in image_tags(probabilities, vocabulary, DEFAULT_TAG_OPTIONS)
        ]
        sets[name] = Split(captions, probabilities, queries, tags)
    tables = class_tables(vocabulary, embed, DEFAULT_TAG_OPTIONS.min_depth)

    results: list[tuple[str, float, list[np.ndarray]]] = []
    for label, part, weights in settings(tables, embed):
        parts = [part(split) for split in sets.values()]  # per set (N, D)
        for weight in weights:
            found = [
                ranks(s.queries, mix(s.captions, p, weight))
                for s, p in zip(sets.values(), parts, strict=True)
            ]
            results.append((f"{label}, w={weight}", float(np.mean([(r < 10).mean() for r in found])), found))
    reference = next(r for r in results if r[0] == f"tags sentence (shipped), w={DEFAULT_TAG_WEIGHT}")
    names = list(sets)
    header = " | ".join(f"{n} R@1/5/10" for n in names)
    print(f"| setting | {header} | mean R@10 | vs shipped (95 % paired bootstrap) |")
    print("|---|" + "---|" * (len(names) + 2))

    def line(label: str, mean: float, found: list[np.ndarray]) -> str:
        cells = ["/".join(f"{(r < k).mean():.3f}" for k in KS) for r in found]
        point, low, high = paired_interval(found, reference[2])
        return (
            f"| {label} | " + " | ".join(cells) + f" | {mean:.3f} | {point:+.3f} [{low:+.3f}, {high:+.3f}] |"
        )

    if args.only:  # the test split: only the settings chosen on val, nothing to choose from
        for label, mean, found in results:
            if label == reference[0] or label in args.only:
                print(line(label, mean, found))
        return
    for label, mean, found in results:
        print(line(label, mean, found))
    at = results.index(reference)
    gains, picked = held_out_gain([r[2] for r in results], at)
    low, high = np.percentile(gains, [2.5, 97.5])
    print(
        f"\nthe best of {len(results)} settings chosen on a random half of each set's queries, judged on the"
        f" other half against the shipped one ({len(gains)} halvings): mean R@10 gain {gains.mean():+.3f},"
        f" 95 % of halvings in [{low:+.3f}, {high:+.3f}], above zero in {(gains > 0).mean():.0%};"
        " picked most:"
    )
    counts = np.bincount(picked, minlength=len(results))
    for index in np.argsort(-counts)[:5]:
        print(f"  {counts[index]:4d}x {results[index][0]}")
    print(f"\nbest {args.best} by mean R@10:")
    for label, mean, found in sorted(results, key=lambda r: -r[1])[: args.best]:
        print(line(label, mean, found))


if __name__ == "__main__":
    main()
