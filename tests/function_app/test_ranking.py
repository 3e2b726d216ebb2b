"""Hybrid ranking: the pure blend on hand-made candidates, then full-text search in a real PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.bundle import SearchBundle, load_bundle
from core.database import make_connector
from core.gate import Gate
from core.space import project
from core.text_encoder import OnnxSentenceEncoder
from core.vector_index import Strategy
from function_app.api import create_api
from function_app.index_reader import IndexedImage, SearchPlan, search_index, text_ranks
from function_app.ranking import RankingOptions, blend, rank_images
from indexing.versions import CaptionedImage
from tests.conftest import index_corpus
from tests.function_app.conftest import make_settings


def image(image_id: str, similarity: float, text_rank: float = 0.0) -> IndexedImage:
    return IndexedImage(image_id, f"{image_id}.png", f"caption of {image_id}", (), similarity, text_rank)


def test_without_text_matches_the_score_is_the_cosine() -> None:
    fixed = RankingOptions(min_similarity=0.3, answer_similarity=0.6)
    ranked = blend([image("a", 0.9), image("b", 0.7), image("c", 0.8)], [], 10, fixed)
    assert [(r.image.image_id, r.score) for r in ranked] == [("a", 0.9), ("c", 0.8), ("b", 0.7)]


def _bundle(gate: Gate | None, probes: np.ndarray | None) -> SearchBundle:
    eye = np.eye(2, 4, dtype=np.float32)
    return SearchBundle(
        "v", Path("."), {} if gate is None else {"gate": gate.to_manifest()}, eye[0], eye, eye, probes
    )


def test_auto_thresholds_come_from_the_bundle_gate_per_query() -> None:
    gate = Gate(0.1, 0.25, 0.95, 0.5, probes=2, rows=9)
    probes = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    bundle = _bundle(gate, probes)
    near_nonsense = RankingOptions().resolved(bundle, np.array([0.8, 0.6], dtype=np.float32))
    # nearest probes' mean cosine (0.8 + 0.6) / 2 = 0.7, plus the margin 0.1
    assert near_nonsense.answer_similarity == pytest.approx(0.8)
    assert near_nonsense.min_similarity == 0.25
    far = RankingOptions().resolved(bundle, np.array([-0.6, -0.8], dtype=np.float32))
    assert far.answer_similarity == pytest.approx(-0.6)
    explicit = RankingOptions(min_similarity=None, answer_similarity=0.5).resolved(bundle, probes[0])
    assert (explicit.min_similarity, explicit.answer_similarity) == (None, 0.5)


def test_the_calibrated_gate_answers_a_query_in_words_whatever_its_cosine() -> None:
    gate = Gate(0.1, None, 0.95, None, probes=2, rows=9)
    probes = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    bundle, query = _bundle(gate, probes), np.array([0.8, 0.6], dtype=np.float32)
    assert RankingOptions().resolved(bundle, query, in_words=True).answer_similarity is None
    margin_only = RankingOptions(answer_in_words=False).resolved(bundle, query, in_words=True)
    assert margin_only.answer_similarity == pytest.approx(0.8)
    # A fixed gate, or a bundle without a calibration, is not overridden by the words.
    fixed = RankingOptions(answer_similarity=0.5).resolved(bundle, query, in_words=True)
    assert fixed.answer_similarity == 0.5
    assert RankingOptions().resolved(_bundle(None, None), query, in_words=True).answer_similarity == 0.6


def test_a_bundle_without_a_gate_falls_back_to_the_fixed_thresholds() -> None:
    resolved = RankingOptions().resolved(_bundle(None, None), np.array([1.0, 0.0], dtype=np.float32))
    assert (resolved.min_similarity, resolved.answer_similarity) == (0.3, 0.6)


def test_auto_thresholds_must_be_resolved_before_blending() -> None:
    with pytest.raises(ValueError, match="an 'auto' threshold must be resolved with the bundle's gate"):
        blend([image("a", 0.9)], [], 10, RankingOptions())
    with pytest.raises(ValueError, match="answer_similarity must be a cosine, 'auto' or None, got 'high'"):
        RankingOptions(answer_similarity="high")  # type: ignore[arg-type]


def test_text_rank_is_scaled_by_the_best_and_mixed_in() -> None:
    semantic = [image("a", 0.9), image("b", 0.8)]
    lexical = [image("b", 0.8, text_rank=0.2), image("c", 0.5, text_rank=0.1)]  # c: only a word match
    ranked = blend(semantic, lexical, 10, RankingOptions(text_weight=0.5).without_cutoff())
    assert [r.image.image_id for r in ranked] == ["b", "c", "a"]
    assert [r.score for r in ranked] == pytest.approx([0.5 * 0.8 + 0.5, 0.5 * 0.5 + 0.25, 0.45])
    assert ranked[0].image.text_rank == 0.2  # the lexical row, which knows its rank, wins


def test_cutoff_drops_weak_images_unless_they_share_a_word() -> None:
    semantic = [image("strong", 0.6), image("weak", 0.2)]
    lexical = [image("weak-but-worded", 0.1, text_rank=0.3)]
    kept = blend(semantic, lexical, 10, RankingOptions(min_similarity=0.4, answer_similarity=0.6))
    assert [r.image.image_id for r in kept] == ["strong", "weak-but-worded"]
    everything = blend(semantic, lexical, 10, RankingOptions().without_cutoff())
    assert len(everything) == 3


def test_a_query_nothing_answers_gets_nothing_and_an_answered_one_keeps_its_tail() -> None:
    gated = RankingOptions(min_similarity=0.3, answer_similarity=0.6)
    assert blend([image("a", 0.55), image("b", 0.5)], [], 10, gated) == []  # nothing reaches 0.6
    worded = blend([image("a", 0.55), image("b", 0.5)], [image("b", 0.5, text_rank=0.1)], 10, gated)
    assert [r.image.image_id for r in worded] == ["b", "a"]  # a shared word answers it
    answered = blend([image("a", 0.65), image("b", 0.5), image("c", 0.2)], [], 10, gated)
    assert [r.image.image_id for r in answered] == ["a", "b"]  # b is under the gate but over the floor
    ungated = RankingOptions(min_similarity=0.3, answer_similarity=None)
    assert [r.image.image_id for r in blend([image("a", 0.55)], [], 10, ungated)] == ["a"]


def test_k_limits_and_ties_break_by_id() -> None:
    ranked = blend(
        [image("b", 0.5), image("a", 0.5), image("c", 0.4)], [], 2, RankingOptions().without_cutoff()
    )
    assert [r.image.image_id for r in ranked] == ["a", "b"]


def test_weights_outside_0_1_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        RankingOptions(text_weight=1.5)


CORPUS = [
    CaptionedImage("bike", "bike.png", "a red bicycle", "t", ("a bike leaning on a wooden fence",)),
    CaptionedImage("dog", "dog.png", "a dog running on a beach", "t", ("a puppy playing in the sand",)),
    CaptionedImage("cat", "cat.png", "a cat sleeping on a sofa", "t"),
    CaptionedImage("boat", "boat.png", "a small boat on a lake", "t", ("a canoe on calm water",)),
    CaptionedImage("tree", "tree.png", "a tall tree in a field", "t"),
    CaptionedImage("car", "car.png", "an old car on a street", "t", ("a vintage automobile",)),
]


@pytest.fixture(scope="module")
def small_index(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, str]:
    return index_corpus(
        pg_admin_dsn, encoder_dir, tmp_path_factory.mktemp("share"), CORPUS, pca_dim=4, clusters=2
    )


def reduced(share: Path, version: str, text: str) -> np.ndarray:
    bundle = load_bundle(share, version)
    encoder = OnnxSentenceEncoder(bundle.encoder_dir)
    return project(encoder.encode([text]), bundle.pca_mean, bundle.pca_components)[0]


def words(dsn: str, share: Path, version: str, text: str) -> list[str]:
    """The images of CORPUS whose captions share a word with ``text``, best text rank first."""
    conn = make_connector(dsn)()
    try:
        ranks = text_ranks(conn, version, text, [image.image_id for image in CORPUS])
    finally:
        conn.close()
    return sorted(ranks, key=lambda image_id: (-ranks[image_id], image_id))


def test_text_ranks_score_only_the_given_rows(small_index: tuple[str, Path, str]) -> None:
    dsn, _, version = small_index
    conn = make_connector(dsn)()
    try:
        ranks = text_ranks(conn, version, "a dog by the fence", ["dog", "bike", "cat"])
        assert set(ranks) == {"dog", "bike"} and all(0 < rank < 1 for rank in ranks.values())
        assert text_ranks(conn, version, "a dog by the fence", ["cat", "tree"]) == {}
        assert text_ranks(conn, version, "a dog", []) == {}
    finally:
        conn.close()


def test_only_the_semantic_candidates_are_re_ranked(small_index: tuple[str, Path, str]) -> None:
    dsn, share, version = small_index
    text = "a sofa and a canoe"  # words of two images: the cat's caption, the boat's alternative
    vector = reduced(share, version, text)
    # No cosine passes 0.999, so only candidates sharing a word with the query are kept.
    words_only = RankingOptions(text_weight=0.5, min_similarity=0.999, answer_similarity=0.6, pool=1)
    conn = make_connector(dsn)()
    try:
        semantic_top2 = [
            r.image_id for r in search_index(conn, version, vector, 2, SearchPlan(Strategy.EXACT))
        ]
        reranked = rank_images(conn, version, vector, text, 2, SearchPlan(Strategy.EXACT), words_only)
        everything = rank_images(conn, version, vector, text, 6, SearchPlan(Strategy.EXACT), words_only)
    finally:
        conn.close()
    assert {r.image.image_id for r in reranked} == {"cat", "boat"} & set(semantic_top2)
    assert {r.image.image_id for r in everything} == {"cat", "boat"}  # k=6: every image is a candidate
    assert all(r.image.text_rank > 0 for r in everything)


@pytest.mark.parametrize("text", ["dog's & | ! ( ) :* <-> 'x'", "'; DROP TABLE images; --", "\\"])
def test_text_rank_treats_operators_as_text(small_index: tuple[str, Path, str], text: str) -> None:
    found = words(*small_index, text)
    assert found == (["dog"] if "dog" in text else [])


def test_api_explains_each_result(small_index: tuple[str, Path, str], tmp_path: Path) -> None:
    dsn, share, _ = small_index
    client = TestClient(create_api(make_settings(dsn, share, tmp_path)))
    body = client.get("/api/search", params={"q": "a bike by the fence", "k": 3}).json()
    best = body["results"][0]
    assert best["id"] == "bike"
    assert best["alternatives"] == ["a bike leaning on a wooden fence"]
    assert best["text_match"] is True
    assert best["score"] >= best["similarity"] * 0.7
    assert body["strategy"] == "exact"  # six rows: far below SEARCH_EXACT_BELOW


def test_nonsense_queries_get_few_or_no_results(small_index: tuple[str, Path, str], tmp_path: Path) -> None:
    dsn, share, _ = small_index
    cut = TestClient(create_api(make_settings(dsn, share, tmp_path)))
    off = {"SEARCH_MIN_SIMILARITY": "off", "SEARCH_ANSWER_SIMILARITY": "off"}
    uncut = TestClient(create_api(make_settings(dsn, share, tmp_path, **off)))
    query: dict[str, str | int] = {"q": "vrolq zektif plumbanor", "k": 6}
    assert len(uncut.get("/api/search", params=query).json()["results"]) == 6
    assert len(cut.get("/api/search", params=query).json()["results"]) < 6
    assert len(cut.get("/api/search", params={"q": "a dog on the beach", "k": 6}).json()["results"]) >= 1


def test_the_service_applies_the_gate_calibrated_in_the_bundle(
    indexed: tuple[str, Path, str], images_dir: Path, tmp_path: Path
) -> None:
    dsn, share, version = indexed
    bundle = load_bundle(share, version)
    assert bundle.gate is not None and bundle.probes is not None  # build_index calibrated it
    nonsense: dict[str, str | int] = {"q": "vrolq zektif plumbanor", "k": 5}
    real: dict[str, str | int] = {"q": "a dog on the beach", "k": 5}
    calibrated = TestClient(create_api(make_settings(dsn, share, images_dir)))
    assert calibrated.get("/api/search", params=nonsense).json()["results"] == []
    assert len(calibrated.get("/api/search", params=real).json()["results"]) == 5
    fixed = TestClient(create_api(make_settings(dsn, share, images_dir, SEARCH_ANSWER_SIMILARITY="-1")))
    assert len(fixed.get("/api/search", params=nonsense).json()["results"]) == 5  # a number overrides
    # The same bundle with a margin that answers everything: the service reads the manifest's gate.
    loose = tmp_path / "share"
    shutil.copytree(share, loose)
    manifest_path = loose / "bundles" / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["gate"]["answer_margin"] = -2.0
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    answering = TestClient(create_api(make_settings(dsn, loose, images_dir)))
    assert len(answering.get("/api/search", params=nonsense).json()["results"]) == 5
