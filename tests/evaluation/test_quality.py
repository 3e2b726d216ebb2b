"""End to end on a tiny synthetic corpus: caption, index through the real pipeline, query, report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evaluation.quality import main
from tests.conftest import create_database
from training.synthetic import make_shapes_dataset, write_tiny_checkpoint


def test_quality_script_end_to_end(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = make_shapes_dataset(tmp_path / "shapes", n_images=40, image_px=32)
    data = json.loads(dataset.read_text(encoding="utf-8"))
    for image in data["images"]:  # tags like openclipart's: "shape red circle"
        image["keywords"] = ["shape", *image["sentences"][1]["tokens"]]
    dataset.write_text(json.dumps(data), encoding="utf-8")
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny.pt")
    other = make_shapes_dataset(tmp_path / "other-shapes", n_images=24, image_px=32)
    argv = [
        "--dataset", str(dataset), "--checkpoint", str(checkpoint), "--split", "train", "--beams", "1,2",
        "--out", str(tmp_path / "out"), "--encoder-cache", str(encoder_dir.parent),
        "--dsn", create_database(pg_admin_dsn), "--out-of-domain", str(other),
    ]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    rows = {(row["set"], row["system"]): row for row in result["rows"]}
    assert ("all", "generated top-1, IVFFlat probes=8") in rows
    assert ("all", "generated top-2, mean embedding, exact, cosine only") in rows
    assert ("all", "generated top-2, beam-weighted mean, exact, cosine only") in rows
    assert ("all", "generated top-2, row per caption, max-sim, exact, cosine only") in rows
    assert ("all", "generated top-1, full-text search only") in rows
    assert any("full-text-only candidates" in system for _, system in rows)
    assert any(system.startswith("**service default**") for _, system in rows)
    assert result["service_strategy"] == "exact"  # what the service plans for 26 images, and it is named
    assert (
        "all",
        "generated top-2, beam-weighted mean, exact, hybrid w=0.2 + full-text-only candidates",
    ) in rows
    for row in rows.values():
        assert all(0.0 <= value <= 1.0 for value in row["recall"].values())
        assert 0.0 <= row["mean_ap"] <= 1.0
    # Each shapes image is indexed as "a big red circle on the left" and asked for as "red circle":
    # the human-caption ceiling finds it (and its look-alikes) at the top.
    ceiling = rows[("paired", "human ceiling, exact full-dim")]
    assert ceiling["queries"] >= 5
    assert ceiling["recall"]["1"] == 1.0
    keywords = rows[("keywords", "human ceiling, exact full-dim")]
    assert keywords["queries"] >= 5 and keywords["recall"]["5"] == 1.0
    assert ("keywords", "generated top-1, exact full-dim (no PCA)") in rows
    # The untrained captioner's captions share no meaning with the queries: well under the ceiling.
    assert rows[("paired", "generated top-1, exact full-dim (no PCA)")]["recall"]["1"] < 1.0
    assert not math.isnan(rows[("all", "generated top-1, full-text search only")]["mean_results"])
    assert len(result["cutoff"]) >= 2
    generated = rows[("paired", "generated top-1, exact full-dim (no PCA)")]
    assert len(generated["ranks"]) == generated["queries"]
    ratios = {(r["set"], r["system"], r["against"]): r for r in result["ratios"]}
    assert {name for name, _, _ in ratios} == {"paired", "keywords"}
    service = [key for key in ratios if key[0] == "paired" and key[1].startswith("**service default**")]
    assert sorted(against for _, _, against in service) == [
        "human ceiling, exact full-dim",
        "human ceiling, service default",
    ]
    found, ceiling_found = (
        sum(r is not None and r <= 10 for r in row["ranks"]) for row in (generated, ceiling)
    )
    ratio = ratios[("paired", "generated top-1, exact full-dim (no PCA)", "human ceiling, exact full-dim")]
    assert ratio["ratio"] == pytest.approx(found / ceiling_found)
    assert 0.0 <= ratio["low"] <= ratio["ratio"] <= ratio["high"]
    out = capsys.readouterr().out
    assert "| queries | system |" in out and "relevance cutoff" in out and "bootstrap interval" in out
    # The gate table, on both sets; the tiny checkpoint's backbone has no ImageNet head, so no labels.
    gates = {(row["set"], row["system"], row["gate"]): row for row in result["gates"]}
    assert {name for name, _, _ in gates} == {"shapes", "other-shapes"}
    assert {system for _, system, _ in gates} == {"captions (top-5 beams, weighted mean)"}
    off = gates[("shapes", "captions (top-5 beams, weighted mean)", "gate and floor off")]
    assert (off["answered"], off["nonsense_empty"], off["noise_empty"]) == (1.0, 0.0, 0.0)
    calibrated = [row for key, row in gates.items() if key[0] == "shapes" and "service default" in key[2]]
    assert len(calibrated) == 1 and calibrated[0]["margin"] is not None
    # The shapes queries ("red circle") are all in words: the language check answers every one, and
    # can only add answers to the margin's.
    margin_only = [row for key, row in gates.items() if key[0] == "shapes" and "no language" in key[2]]
    assert len(margin_only) == 1 and calibrated[0]["answered"] == 1.0
    assert calibrated[0]["answered"] >= margin_only[0]["answered"]
    assert all(
        0.0 <= row["answered"] <= 1.0
        and 0.0 <= row["nonsense_empty"] <= 1.0
        and 0.0 <= row["noise_empty"] <= 1.0
        for row in gates.values()
    )
    assert "answer gate per set" in out and "| real answered | nonsense empty | keyboard noise empty |" in out
    cache = json.loads((tmp_path / "out" / "captions.json").read_text(encoding="utf-8"))
    assert len(cache["captions"]) == result["images"]  # the next run reuses them instead of captioning
