"""An image's searchable text, written once at indexing: captions, tag words, text read in the picture."""

from __future__ import annotations

import pytest

from core.tags import tags_json
from indexing.store import searchable_text, tag_words


@pytest.mark.parametrize(
    "tags",
    [
        (),
        (("tabby", 0.61), ("cat", 0.61), ("domestic animal", 0.6)),
        (("café", 0.5), ('say "hi"', 0.2), ("back\\slash", 0.1), ("[x]", 0.3)),  # escapes and brackets
    ],
)
def test_tag_words_are_the_words_of_the_stored_tags_in_order(tags: tuple[tuple[str, float], ...]) -> None:
    assert tag_words(tags_json(tags)) == " ".join(word for word, _ in tags)


def test_searchable_text_holds_each_part_on_its_own_line() -> None:
    text = searchable_text("a cat", "a kitten\na pet", tags_json([("tabby", 0.6)]), "BAKERY")
    assert text == "a cat\na kitten\na pet\ntabby\nBAKERY"
    assert searchable_text("a cat", "", "[]", "") == "a cat\n\n\n"
