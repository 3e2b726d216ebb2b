"""WordNet's noun database read by byte offset, on a hand-made file and on the installed one."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexing.tagging.vocabulary import VOCABULARY_FILE, build_vocabulary, read_synsets, to_json
from indexing.tagging.wordnet import (
    DEFAULT_WORDNET_DIR,
    NounDatabase,
    WordNetError,
    parse_synset_line,
    wnid_offset,
)

# (key, lemmas, hypernym keys) of a tiny hierarchy: entity > animal > cat > tabby, and a second
# parent (pet) of cat reached by an instance-hypernym pointer.
TINY = [
    ("entity", ["entity"], []),
    ("animal", ["animal", "beast"], ["entity"]),
    ("pet", ["pet"], ["entity"]),
    ("cat", ["cat", "true_cat"], ["animal", "pet"]),
    ("tabby", ["tabby", "tabby_cat"], ["cat"]),
]


def write_tiny_wordnet(folder: Path) -> dict[str, int]:
    """A data.noun whose offsets are the byte offsets of its lines, as in WordNet itself."""
    header = "  1 This is a hand-made WordNet noun file for tests.\n"
    offsets: dict[str, int] = {}
    position = len(header)
    for key, _, _ in TINY:  # fixed-width lines, so offsets are known before writing
        offsets[key] = position
        position += 120
    lines = []
    for key, lemmas, parents in TINY:
        words = " ".join(f"{lemma} 0" for lemma in lemmas)
        pointers = " ".join(
            f"{'@i' if (key, parent) == ('cat', 'pet') else '@'} {offsets[parent]:08d} n 0000"
            for parent in parents
        )
        line = f"{offsets[key]:08d} 05 n {len(lemmas):02x} {words} {len(parents):03d} {pointers} | a {key}"
        lines.append(line.ljust(119) + "\n")
    (folder / "data.noun").write_text(header + "".join(lines), encoding="utf-8")
    return offsets


def test_synsets_are_read_by_offset_with_readable_lemmas_and_hypernyms(tmp_path: Path) -> None:
    offsets = write_tiny_wordnet(tmp_path)
    db = NounDatabase(tmp_path)
    cat = db.synset(offsets["cat"])
    assert cat.lemmas == ("cat", "true cat")
    assert cat.hypernyms == (offsets["animal"], offsets["pet"])  # "@" and "@i" both count
    assert [(s.lemmas[0], steps) for s, steps in db.ancestors(offsets["tabby"])] == [
        ("cat", 1),
        ("animal", 2),
        ("pet", 2),
        ("entity", 3),
    ]
    assert [db.depth(offsets[k]) for k in ("entity", "animal", "cat", "tabby")] == [0, 1, 2, 3]
    db.close()


def test_errors_name_the_file_and_the_offset(tmp_path: Path) -> None:
    with pytest.raises(
        WordNetError, match=r"no WordNet noun database at .*data.noun \(Debian package wordnet-base\)"
    ):
        NounDatabase(tmp_path)
    write_tiny_wordnet(tmp_path)
    db = NounDatabase(tmp_path)
    with pytest.raises(WordNetError, match=r"has no synset at offset 00000100"):
        db.synset(100)
    with pytest.raises(WordNetError, match=r"not a noun synset"):
        parse_synset_line("00001740 03 v 01 run 0 000 | to move fast")
    with pytest.raises(WordNetError, match=r"not an ImageNet noun id: 'x123'"):
        wnid_offset("x123")


@pytest.mark.skipif(
    not (DEFAULT_WORDNET_DIR / "data.noun").is_file(), reason="./dev setup installs Debian's wordnet-base"
)
def test_the_shipped_vocabulary_is_what_wordnet_gives() -> None:
    db = NounDatabase()
    try:
        rebuilt = to_json(build_vocabulary(db, read_synsets()))
    finally:
        db.close()
    assert rebuilt == VOCABULARY_FILE.read_text(encoding="utf-8")
    tabby = db_free_entry("n02123045")
    assert tabby["names"] == ["tabby", "tabby cat"]
    generic = {a["words"][0]: a["depth"] for a in tabby["ancestors"]}
    assert {"cat", "feline", "mammal", "animal"} <= set(generic)
    assert generic["entity"] == 0 and generic["animal"] == 6


def db_free_entry(wnid: str) -> dict:
    import json

    classes = json.loads(VOCABULARY_FILE.read_text(encoding="utf-8"))["classes"]
    return next(c for c in classes if c["wnid"] == wnid)
