"""Search by picture: which route puts a query picture nearest the images that share its keywords.

    .venv/bin/python -m evaluation.picture_queries --checkpoint .data/demo/run/best.pt \
        --dataset .data/openclipart/dataset.json --split val

Every picture of the split is indexed as the indexer indexes it (beam-5 captions mixed with its tags'
sentence at INDEX_TAG_WEIGHT, in the full MiniLM space) and is, in turn, the query; it is left out of its
own ranking. Relevant: another picture that shares one of its human keywords. The routes:

- ``tags``: the query picture's tags sentence, embedded by the text encoder (what the Function can do
  with the backbone and the ImageNet head in ONNX; no new column);
- ``caption``: the query picture's own indexed embedding (captions + tags), i.e. captioning the query
  picture in the Function (its beam search would have to run there too);
- ``visual``: cosine of the backbone's pooled features (1280-d), raw, centred, or reduced by a PCA
  fitted on the indexed pictures (a new per-image column);
- ``mixed``: ``a`` x visual cosine + ``(1 - a)`` x the tags or caption route's cosine.

Prints precision@10 and mAP@10 per route (docs/picture_search.md).
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.space import normalize_rows
from core.text_encoder import OnnxSentenceEncoder
from evaluation.labels import caption_and_classify, image_tags
from evaluation.metrics import average_precision
from indexing.stages import encode_groups, mix_tags, tags_sentence
from indexing.tagging.tagger import DEFAULT_TAG_WEIGHT
from training.data import ImageRecord

DEPTH = 10
MIX_WEIGHTS = (0.3, 0.5, 0.7, 0.9)
PCA_DIMS = (64, 128, 256)


def relevant_sets(keywords: Sequence[frozenset[str]]) -> list[frozenset[int]]:
    """Per picture, the other pictures that share at least one of its keywords."""
    owners: dict[str, set[int]] = {}
    for index, words in enumerate(keywords):
        for word in words:
            owners.setdefault(word, set()).add(index)
    return [
        frozenset(set().union(*(owners[w] for w in words)) - {index}) if words else frozenset()
        for index, words in enumerate(keywords)
    ]


def score_rankings(similarity: np.ndarray, relevant: Sequence[frozenset[int]]) -> tuple[float, float]:
    """(mean precision@10, mean AP@10) of the rankings by (Q, N) similarity, each query left out."""
    similarity = similarity.copy()
    np.fill_diagonal(similarity, -np.inf)
    top = np.argsort(-similarity, axis=1)[:, :DEPTH]  # (Q, 10)
    precisions, aps = [], []
    for row, wanted in enumerate(relevant):
        if not wanted:
            continue
        ranking = [str(i) for i in top[row]]
        relevant_ids = {str(i) for i in wanted}
        precisions.append(sum(i in relevant_ids for i in ranking) / DEPTH)
        aps.append(average_precision(ranking, relevant_ids, DEPTH))
    return float(np.mean(precisions)), float(np.mean(aps))


def pooled_features(checkpoint: Path, records: Sequence[ImageRecord], root: Path, cache: Path) -> np.ndarray:
    """(N, E) the backbone's feature grids averaged, as the ONNX image encoder returns them; cached."""
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    ids = hashlib.sha256("\n".join(r.image_id for r in records).encode()).hexdigest()[:16]
    path = cache / f"pooled-{digest}-{ids}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    import torch

    from training.caption import load_captioner
    from training.images import load_image

    captioner = load_captioner(checkpoint, "cpu")
    chunks = []
    for start in range(0, len(records), 32):
        batch = records[start : start + 32]
        pixels = torch.stack([captioner.preprocess(load_image(root / r.path)) for r in batch])
        chunks.append(captioner.encode(pixels).float().mean(dim=1).numpy())  # (B, E)
    features = np.concatenate(chunks).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, features)
    return features


def visual_spaces(features: np.ndarray) -> dict[str, np.ndarray]:
    """The visual variants tried: raw, centred, and an uncentered or centred PCA to d dimensions."""
    centred = features - features.mean(axis=0)
    spaces = {"visual raw 1280-d": normalize_rows(features), "visual centred": normalize_rows(centred)}
    for dim in PCA_DIMS:
        for name, data in (("", features), (" centred", centred)):
            _, _, vt = np.linalg.svd(data, full_matrices=False)
            spaces[f"visual{name} PCA {dim}"] = normalize_rows(data @ vt[:dim].T)
    return spaces


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--encoder-dir", type=Path, default=Path(".data/cache/minilm-onnx"))
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--cache", type=Path, default=Path(".data/picture-queries"))
    args = parser.parse_args()

    from training.data import load_karpathy

    records = [r for r in load_karpathy(args.dataset) if r.split == args.split]
    ids = [r.image_id for r in records]
    keywords = [frozenset(r.keywords) for r in records]
    cache = args.cache / f"{args.dataset.parent.name}-{args.split}"
    encoder = OnnxSentenceEncoder(args.encoder_dir)
    beams, probabilities = caption_and_classify(args.checkpoint, records, args.dataset.parent, 5, cache)
    if probabilities is None:
        raise SystemExit(f"{args.checkpoint}: its backbone has no ImageNet head")
    top = [beams[r.image_id][:5] for r in records]
    captions = encode_groups(
        encoder, [[t for t, _ in b] for b in top], scores=[[s for _, s in b] for b in top]
    )
    tags = list(image_tags(probabilities, ids).values())
    indexed = mix_tags(captions, encoder, tags, DEFAULT_TAG_WEIGHT)  # (N, D) what the database holds
    tag_queries = normalize_rows(encoder.encode([tags_sentence(t) or " " for t in tags]))

    relevant = relevant_sets(keywords)
    text = {"tags": tag_queries @ indexed.T, "caption": indexed @ indexed.T}
    visual = {
        name: space @ space.T
        for name, space in visual_spaces(
            pooled_features(args.checkpoint, records, args.dataset.parent, cache)
        ).items()
    }
    queries = sum(1 for r in relevant if r)
    print(f"{args.dataset.parent.name} {args.split}: {queries} picture queries of {len(records)} pictures")
    print("| route | P@10 | mAP@10 |\n|---|---|---|")
    for name, similarity in {**text, **visual}.items():
        precision, ap = score_rankings(similarity, relevant)
        print(f"| {name} | {precision:.3f} | {ap:.3f} |")
    for visual_name in ("visual centred", "visual centred PCA 128"):
        for text_name, text_similarity in text.items():
            for weight in MIX_WEIGHTS:
                mixed = weight * visual[visual_name] + (1 - weight) * text_similarity
                precision, ap = score_rankings(mixed, relevant)
                print(f"| {weight} x {visual_name} + {text_name} | {precision:.3f} | {ap:.3f} |")


if __name__ == "__main__":
    main()
