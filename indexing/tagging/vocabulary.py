"""The ImageNet-1k classes as readable words: each class's own names and the generic words above it.

Built once from WordNet and written to ``imagenet_tags.json`` beside this module (shipped with the
code), so tagging at index time needs no WordNet. Every ancestor keeps its depth below the root;
``tags.TagOptions.min_depth`` decides at tagging time how generic a word may be.

python -m indexing.tagging.vocabulary [--wordnet /usr/share/wordnet]   # rewrites imagenet_tags.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.class_tags import Ancestor, ClassWords, load_class_words
from indexing.tagging.wordnet import DEFAULT_WORDNET_DIR, NounDatabase, wnid_offset

HERE = Path(__file__).resolve().parent
SYNSETS_FILE = HERE / "imagenet_synsets.txt"  # the 1,000 class ids in the classifier's output order
VOCABULARY_FILE = HERE / "imagenet_tags.json"
NAMES_PER_CLASS = 3
WORDS_PER_ANCESTOR = 2


def read_synsets(path: Path = SYNSETS_FILE) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def class_words(db: NounDatabase, wnid: str) -> ClassWords:
    offset = wnid_offset(wnid)
    synset = db.synset(offset)
    ancestors = tuple(
        Ancestor(above.lemmas[:WORDS_PER_ANCESTOR], db.depth(above.offset))
        for above, _ in db.ancestors(offset)
    )
    return ClassWords(wnid, synset.lemmas[:NAMES_PER_CLASS], ancestors)


def build_vocabulary(db: NounDatabase, wnids: list[str]) -> list[ClassWords]:
    return [class_words(db, wnid) for wnid in wnids]


def to_json(classes: list[ClassWords]) -> str:
    payload = {
        "source": "WordNet 3.0 nouns (Debian wordnet-base); class order of imagenet_synsets.txt",
        "classes": [
            {
                "wnid": c.wnid,
                "names": list(c.names),
                "ancestors": [{"words": list(a.words), "depth": a.depth} for a in c.ancestors],
            }
            for c in classes
        ],
    }
    return json.dumps(payload, indent=None, ensure_ascii=False, separators=(",", ":")) + "\n"


def load_vocabulary(path: Path = VOCABULARY_FILE) -> list[ClassWords]:
    """The shipped vocabulary, in the classifier's output order."""
    return load_class_words(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexing.tagging.vocabulary", description=__doc__)
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET_DIR, help="folder holding data.noun")
    parser.add_argument("--out", type=Path, default=VOCABULARY_FILE)
    args = parser.parse_args(argv)
    db = NounDatabase(args.wordnet)
    try:
        classes = build_vocabulary(db, read_synsets())
    finally:
        db.close()
    args.out.write_text(to_json(classes), encoding="utf-8")
    print(f"{len(classes)} classes written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
