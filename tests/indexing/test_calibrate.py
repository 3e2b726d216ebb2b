"""The gate calibrated per bundle: the pure computation on hand-made vectors, then a real build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg2
import pytest

from core.bundle import load_bundle
from core.gate import Gate, nonsense_similarity
from core.space import normalize_rows, project
from core.text_encoder import OnnxSentenceEncoder
from evaluation.queries import keyboard_noise, nonsense_queries
from indexing.calibrate import calibrate, load_probes, null_maxima
from indexing.versions import CaptionedImage, build_index
from tests.conftest import create_database


def unit(*rows: list[float] | list[int]) -> np.ndarray:
    return normalize_rows(np.array(rows, dtype=np.float32))


def test_null_maxima_is_each_probes_best_row_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("indexing.calibrate._CHUNK", 2)
    probes = unit([1, 0], [0, 1])
    rows = unit([1, 1], [1, 0.1], [-1, 0], [0.2, 1], [0, -1])
    expected = (probes @ rows.T).max(axis=1)
    assert np.allclose(null_maxima(probes, rows), expected)
    with pytest.raises(ValueError, match=r"probes \(2, 2\) and rows \(1, 3\) are not in one space"):
        null_maxima(probes, unit([1, 0, 0]))


def test_nonsense_similarity_averages_the_nearest_probes_leaving_each_probe_out() -> None:
    probes = unit(*([[1, 0]] * 5), *([[0, 1]] * 20))
    near = nonsense_similarity(unit([1, 0]), probes)  # 5 probes at 1, then 5 at 0
    assert near == pytest.approx([0.5])
    itself = nonsense_similarity(probes[:1], probes[:1].repeat(11, axis=0), exclude_self=True)
    assert itself == pytest.approx([1.0])  # 10 others, all identical; its own cosine left out


def test_the_margin_and_floor_are_quantiles_of_the_probes() -> None:
    rng = np.random.default_rng(0)
    probes = normalize_rows(rng.normal(size=(40, 8)).astype(np.float32))
    rows = normalize_rows(rng.normal(size=(30, 8)).astype(np.float32))
    gate = calibrate(probes, rows, answer_quantile=0.9, floor_quantile=0.5)
    maxima = null_maxima(probes, rows)
    margins = maxima - nonsense_similarity(probes, probes, exclude_self=True)
    assert gate.answer_margin == pytest.approx(np.quantile(margins, 0.9), abs=1e-4)
    assert gate.min_similarity == pytest.approx(np.median(maxima), abs=1e-4)
    assert (gate.probes, gate.rows, gate.answer_quantile) == (40, 30, 0.9)
    assert np.mean(margins < gate.answer_margin) == pytest.approx(0.9, abs=0.03)  # 90 % of probes gated
    looser = calibrate(probes, rows, answer_quantile=0.5)
    assert looser.answer_margin < gate.answer_margin
    with pytest.raises(ValueError, match=r"quantiles must be in \[0, 1\], got answer 1.5, floor 0.5"):
        calibrate(probes, rows, answer_quantile=1.5, floor_quantile=0.5)


def test_a_query_near_the_nonsense_needs_a_closer_image() -> None:
    gate = Gate(0.2, 0.1, 0.95, 0.5, probes=20, rows=3)
    probes = unit(*([[1, 0, 0]] * 20))
    assert gate.answer_similarity(unit([1, 0, 0])[0], probes) == 1.0  # capped at a cosine of 1
    assert gate.answer_similarity(unit([0, 1, 0])[0], probes) == pytest.approx(0.2)


def test_the_shipped_probes_are_distinct_from_the_evaluations_nonsense() -> None:
    probes = load_probes()
    assert len(probes) == 384 and len(set(probes)) == 384  # 256 pseudo-word and 128 keyboard-noise probes
    assert not set(probes) & (set(nonsense_queries(1000)) | set(keyboard_noise(1000)))
    assert not any(line.startswith("#") for line in probes)


def test_a_built_bundle_gates_nonsense_and_answers_its_own_captions(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path: Path
) -> None:
    texts = [
        "a dog running on the beach",
        "a red sports car on a road",
        "a bowl of fruit on a table",
        "a cat sleeping on a sofa",
        "snowy mountains under a blue sky",
        "a sailing boat on the sea",
        "children playing football in a park",
        "a cup of coffee and a croissant",
        "an old castle on a hill",
        "a bicycle leaning against a wall",
    ] * 3
    images = [CaptionedImage(f"i{n:02d}", f"{n}.png", text) for n, text in enumerate(texts)]
    conn = psycopg2.connect(create_database(pg_admin_dsn))
    try:
        version = build_index(images, conn=conn, share=tmp_path, encoder_dir=encoder_dir, vector_index=None)
    finally:
        conn.close()
    bundle = load_bundle(tmp_path, version)
    gate = bundle.gate
    assert gate is not None and bundle.probes is not None
    assert bundle.manifest["gate"]["probes"] == len(load_probes()) == bundle.probes.shape[0]
    assert gate.rows == 30 and -1 < gate.answer_margin < 1  # negative: nonsense lies far from these rows
    encoder = OnnxSentenceEncoder(encoder_dir)
    rows = project(encoder.encode(texts[:10]), bundle.pca_mean, bundle.pca_components)

    probes = bundle.probes
    assert probes is not None

    def answered(queries: list[str]) -> float:
        vectors = project(encoder.encode(queries), bundle.pca_mean, bundle.pca_components)
        best = (vectors @ rows.T).max(axis=1)
        return float(
            np.mean([b >= gate.answer_similarity(v, probes) for v, b in zip(vectors, best, strict=True)])
        )

    assert answered(["a puppy on the sand", "a cat on a couch", "mountains covered in snow"]) == 1.0
    assert answered(nonsense_queries(50)) <= 0.2
    assert answered(keyboard_noise(50)) <= 0.2
