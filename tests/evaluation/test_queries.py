"""Query sets and relevance from held-out records."""

from __future__ import annotations

from evaluation.queries import all_caption_queries, keyword_queries, nonsense_queries, paired_ceiling
from training.data import ImageRecord


def record(image_id: str, *captions: str) -> ImageRecord:
    return ImageRecord(image_id, f"images/{image_id}.png", "test", tuple(tuple(c.split()) for c in captions))


RECORDS = [
    record("1", "red star", "a red star with five points"),
    record("2", "red star"),
    record("3", "blue house", "a small blue house"),
    record("4", "a small blue house"),
]


def test_all_queries_make_every_image_with_the_caption_relevant() -> None:
    queries = all_caption_queries(RECORDS)
    relevant = dict(zip(queries.texts, queries.relevant, strict=True))
    assert relevant["red star"] == {"1", "2"}
    assert relevant["a small blue house"] == {"3", "4"}
    assert len(queries.texts) == 4


def test_paired_ceiling_never_indexes_a_query_text() -> None:
    indexed, queries = paired_ceiling(RECORDS)
    assert indexed == {"1": "red star", "2": "red star", "3": "blue house", "4": "a small blue house"}
    # "a small blue house" is image 4's indexed caption, so asking it would be a leak: dropped.
    assert queries.texts == ["a red star with five points"]
    assert queries.relevant == [frozenset({"1"})]
    assert not set(queries.texts) & set(indexed.values())


def test_nonsense_queries_are_fixed_by_seed() -> None:
    assert nonsense_queries(5, seed=3) == nonsense_queries(5, seed=3)
    assert len(set(nonsense_queries(50))) > 45


def test_keyword_queries_ask_with_tags_and_never_with_an_indexed_caption() -> None:
    records = [
        ImageRecord("1", "1.png", "test", (("red", "star"),), keywords=("shape", "red")),
        ImageRecord("2", "2.png", "test", (("crimson", "star"),), keywords=("shape", "red")),
        ImageRecord("3", "3.png", "test", (("blue", "house"),), keywords=("red", "star")),
        ImageRecord("4", "4.png", "test", (("green", "tree"),)),
    ]
    indexed, _ = paired_ceiling(records)
    queries = keyword_queries(records, indexed)
    assert queries.name == "keywords"
    # "red star" is image 1's indexed caption: asking it would be a leak.
    assert queries.texts == ["shape red"]
    assert queries.relevant == [frozenset({"1", "2"})]
