"""Caption-like sentences and embeddings for benchmarks, built offline.

Real captions are templated from a vocabulary of subjects, actions, scenes and details (about 4 million
distinct sentences), encoded with the project's ONNX encoder. When more rows are asked for than
``real`` sentences, the rest are synthesised from the real embeddings: a random convex mix of two real
captions that share a subject, plus small noise, renormalised. That keeps them on the caption manifold
with the same cluster structure. Results are cached under .data/bench/.
"""

from __future__ import annotations

import itertools
import random
import time
from pathlib import Path

import numpy as np

SUBJECTS = [
    "a man",
    "a woman",
    "a young boy",
    "a little girl",
    "an old man",
    "two children",
    "a group of friends",
    "a dog",
    "a black cat",
    "a brown horse",
    "a herd of cows",
    "a flock of sheep",
    "a pair of ducks",
    "a red car",
    "a yellow bus",
    "a small boat",
    "a train",
    "an airplane",
    "a bicycle",
    "a motorcycle",
    "a giraffe",
    "an elephant",
    "a zebra",
    "a bear",
    "a bird",
    "a surfer",
    "a skier",
    "a chef",
    "a policeman",
    "a baseball player",
    "a tennis player",
    "a couple",
    "a baby",
    "a teddy bear",
    "a pizza",
    "a plate of food",
    "a cake",
    "a laptop",
    "a kite",
    "a clock tower",
]
ACTIONS = [
    "standing",
    "walking",
    "running",
    "sitting",
    "lying",
    "jumping",
    "playing",
    "eating",
    "looking out",
    "parked",
    "waiting",
    "riding a wave",
    "flying",
    "crossing the road",
    "posing for a photo",
    "holding an umbrella",
    "carrying a bag",
    "resting",
    "drinking water",
    "smiling",
]
SCENES = [
    "on a sandy beach",
    "in a snowy forest",
    "next to a busy street",
    "inside a kitchen",
    "under a bridge",
    "in a green field",
    "at a train station",
    "on a city sidewalk",
    "in a living room",
    "near a lake",
    "on top of a hill",
    "in a crowded market",
    "at the airport",
    "in a parking lot",
    "on a wooden table",
    "in front of a building",
    "at night",
    "in the rain",
    "on a tennis court",
    "in a zoo enclosure",
    "by the river",
    "in a small garden",
    "on a ski slope",
    "in the desert",
    "at a birthday party",
    "in an office",
    "on a farm",
    "in a bathroom",
    "on a boat dock",
    "in the mountains",
]
DETAILS = [
    "",
    "on a sunny day",
    "with trees in the background",
    "under a cloudy sky",
    "next to a fence",
    "with people watching",
    "in black and white",
    "at sunset",
    "with a red umbrella",
    "beside a lamp post",
]

CACHE = Path(__file__).resolve().parents[1] / ".data" / "bench"


def sentences(count: int, seed: int) -> list[str]:
    """``count`` distinct templated captions in a random order fixed by ``seed``."""
    combos = list(
        itertools.product(range(len(SUBJECTS)), range(len(ACTIONS)), range(len(SCENES)), range(len(DETAILS)))
    )
    rng = random.Random(seed)
    picked = rng.sample(combos, count)
    return [" ".join(filter(None, (SUBJECTS[s], ACTIONS[a], SCENES[p], DETAILS[d]))) for s, a, p, d in picked]


def encode_cached(texts: list[str], encoder_dir: Path, name: str) -> np.ndarray:
    path = CACHE / f"{name}.npy"
    if path.is_file():
        cached = np.load(path, allow_pickle=False)
        if cached.shape[0] == len(texts):
            return cached
    from core.text_encoder import OnnxSentenceEncoder

    encoder = OnnxSentenceEncoder(encoder_dir)
    started = time.perf_counter()
    vectors = np.concatenate(
        [encoder.encode(texts[i : i + 2048], batch_size=128) for i in range(0, len(texts), 2048)]
    )
    print(f"  encoded {len(texts)} captions in {time.perf_counter() - started:.0f} s")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def synthesise(real: np.ndarray, subjects: np.ndarray, total: int, seed: int) -> np.ndarray:
    """``total`` rows: the real ones, then mixes of two real rows with the same subject plus noise."""
    rng = np.random.default_rng(seed)
    extra = total - real.shape[0]
    if extra <= 0:
        return real[:total]
    first = rng.integers(0, real.shape[0], extra)
    by_subject: dict[int, np.ndarray] = {s: np.flatnonzero(subjects == s) for s in np.unique(subjects)}
    second = np.array([rng.choice(by_subject[int(subjects[i])]) for i in first])
    weight = rng.uniform(0.55, 0.95, size=(extra, 1)).astype(np.float32)
    mixed = weight * real[first] + (1 - weight) * real[second]
    mixed += rng.normal(scale=0.02, size=mixed.shape).astype(np.float32)
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    return np.concatenate([real, mixed.astype(np.float32)])


def subject_of(texts: list[str]) -> np.ndarray:
    index = {s: i for i, s in enumerate(sorted(SUBJECTS, key=len, reverse=True))}
    out = []
    for text in texts:
        out.append(next(i for s, i in index.items() if text.startswith(s + " ")))
    return np.array(out)
