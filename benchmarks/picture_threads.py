"""The picture encoder's ONNX Runtime threading, side by side in one process, as the server runs it:
each round encodes a text query (MiniLM) and then a picture (the backbone and head), per setting, the
settings' order rotating per round.

    .venv/bin/python -m benchmarks.picture_threads --share .data/bench/share-100000-visual --rounds 200

A setting is the intra-op thread count (default: ONNX Runtime's, one per core) and whether idle threads
spin, for both sessions; the server builds both with the defaults. Prints each setting's median and p99
of the picture's encode (PNG open, preprocessing, the ONNX pass, tags) and of the text encode, and the
load average, for docs/picture_search.md.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

from PIL import Image

from benchmarks.alternate import ms
from benchmarks.caption_corpus import sentences
from benchmarks.picture_corpus import dataset_records

SETTINGS = {  # name: (picture threads, picture spin, text threads, text spin); 0: ONNX Runtime's default
    "both default (served)": (0, True, 0, True),
    "both default threads, no spinning": (0, False, 0, False),
    "both 1 thread, no spinning": (1, False, 1, False),
    "picture 1 thread, no spinning; text default": (1, False, 0, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--share", type=Path, default=Path(".data/bench/share-100000-visual"))
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    from core.bundle import load_bundle
    from core.picture_encoder import OnnxPictureEncoder
    from core.text_encoder import OnnxSentenceEncoder

    bundle = load_bundle(args.share, verify_checksums=False)
    assert bundle.picture_dir is not None, f"{args.share}'s bundle has no picture encoder"
    records, root = dataset_records(("test",))
    files = [(root / r.path).read_bytes() for r in records[: args.rounds]]
    texts = sentences(20_000 + args.rounds, seed=1)[20_000:]

    sessions = {
        name: (
            OnnxPictureEncoder(bundle.picture_dir, threads=pt or None, spin=ps),
            OnnxSentenceEncoder(bundle.encoder_dir, threads=tt or None, spin=ts),
        )
        for name, (pt, ps, tt, ts) in SETTINGS.items()
    }
    times: dict[str, dict[str, list[float]]] = {name: {"picture": [], "text": []} for name in sessions}
    names = list(sessions)
    print(f"load before: {os.getloadavg()[0]:.1f}")
    for i in range(args.rounds + 5):  # the first 5 warm up
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            picture, text = sessions[name]
            started = time.perf_counter()
            text.encode([texts[i % len(texts)]])
            encoded = time.perf_counter()
            picture.encode(Image.open(io.BytesIO(files[i % len(files)])))
            if i >= 5:
                times[name]["text"].append(encoded - started)
                times[name]["picture"].append(time.perf_counter() - encoded)
    print(f"load after: {os.getloadavg()[0]:.1f}, {args.rounds} rounds\n")
    print(
        "| setting | picture median ms | picture p99 ms | text median ms | text p99 ms |\n|---|---|---|---|---|"
    )
    for name, got in times.items():
        (pm, pp), (tm, tp) = ms(got["picture"]), ms(got["text"])
        print(f"| {name} | {pm:.1f} | {pp:.1f} | {tm:.1f} | {tp:.1f} |")


if __name__ == "__main__":
    main()
