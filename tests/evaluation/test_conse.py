"""The ConSE screen's pure parts on hand-made probabilities, class tables and ranks."""

from __future__ import annotations

import numpy as np
import pytest

from core.class_tags import Ancestor, ClassWords
from evaluation.conse import conse, generic_words, held_out_gain, paired_interval, ranks

# three classes along three axes of a 3-d "embedding space"
TABLE = np.eye(3, dtype=np.float32)


def test_conse_weighs_the_top_classes_by_their_renormalised_probabilities() -> None:
    p = np.array([[0.6, 0.3, 0.1]])
    np.testing.assert_allclose(conse(p, TABLE, top=3)[0], np.array([6, 3, 1]) / np.sqrt(46), rtol=1e-6)
    # only the top two count, renormalised: the third class is gone
    np.testing.assert_allclose(conse(p, TABLE, top=2)[0], np.array([2, 1, 0]) / np.sqrt(5), rtol=1e-6)


def test_temperature_flattens_and_raw_probabilities_keep_an_unsure_classifier_short() -> None:
    p = np.array([[0.81, 0.04, 0.09]])
    sharp, flat = conse(p, TABLE, top=2, temperature=1.0)[0], conse(p, TABLE, top=2, temperature=2.0)[0]
    # p^(1/2): 0.9 against 0.3 (not 0.81 against 0.09), so the runner-up gains on the first
    np.testing.assert_allclose(flat, np.array([3, 0, 1]) / np.sqrt(10), rtol=1e-6)
    assert flat[2] / flat[0] > sharp[2] / sharp[0]
    raw = conse(p, TABLE, top=3, unit=False)[0]
    np.testing.assert_allclose(raw, p[0], rtol=1e-6)
    assert np.linalg.norm(raw) < 1


def test_generic_words_stop_at_the_depth_and_come_once() -> None:
    entry = ClassWords(
        "n1",
        ("tabby",),
        (
            Ancestor(("Cat", "true cat"), 13),
            Ancestor(("cat",), 9),
            Ancestor(("animal",), 6),
            Ancestor(("whole",), 3),
        ),
    )
    assert generic_words(entry, 6) == ["cat", "animal"]
    assert generic_words(entry, 10) == ["cat"]


def test_ranks_count_the_images_scored_above_the_right_one() -> None:
    queries = np.array([[1.0, 0.0], [1.0, 0.0]])
    images = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(ranks(queries, images), [0, 1])


def test_paired_interval_of_a_setting_against_itself_and_against_a_better_one() -> None:
    reference = [np.array([0, 20, 3, 50]), np.array([1, 2])]
    assert paired_interval(reference, reference) == (0.0, 0.0, 0.0)
    better = [np.array([0, 0, 0, 0]), np.array([1, 2])]  # finds two more of the first set's four
    point, low, high = paired_interval(better, reference)
    assert point == pytest.approx(0.25)  # (2/4 + 0/2) / 2
    assert 0 <= low <= point <= high <= 0.5


def test_held_out_gain_picks_a_setting_better_on_every_query_and_credits_it_on_the_other_half() -> None:
    misses = [np.full(40, 99), np.full(30, 99)]
    hits = [np.zeros(40, dtype=np.int64), np.zeros(30, dtype=np.int64)]
    gains, picked = held_out_gain([misses, hits], reference=0, rounds=20)
    assert (picked == 1).all()
    np.testing.assert_allclose(gains, 1.0)
    gains, _ = held_out_gain([misses, misses], reference=0, rounds=5)
    np.testing.assert_array_equal(gains, 0.0)
