"""COCO 2017's own layout: the reader, `load_dataset`'s dispatch, and a tiny training run on it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from training.caption import load_captioner
from training.config import TrainConfig
from training.data import (
    ImageRecord,
    load_coco2017,
    load_dataset,
    split_for,
    write_karpathy,
)
from training.train import parse_args, train

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 180, 30), "yellow": (230, 220, 30)}
# Image ids chosen so that val2017 hashes to two "val" and two "test" images.
TRAIN = {9: "red", 25: "blue", 30: "green", 34: "yellow"}
VAL = {139: "red", 285: "blue", 632: "green", 802: "yellow"}
UNCAPTIONED = 34


def _annotations(folder: str, images: dict[int, str], uncaptioned: tuple[int, ...] = ()) -> dict[str, Any]:
    anns = []
    for image_id, colour in images.items():
        if image_id in uncaptioned:
            continue
        for n, text in enumerate((f"A {colour} square.", f"a {colour} box on white")):
            anns.append({"id": image_id * 10 + n, "image_id": image_id, "caption": text})
    return {
        "info": {"description": f"tiny {folder}"},
        "images": [
            {"id": i, "file_name": f"{i:012d}.jpg", "height": 32, "width": 32} for i in sorted(images)
        ],
        "annotations": anns,
    }


def make_coco(root: Path) -> Path:
    """A COCO 2017 folder: 4 train images (one without captions), 4 val images, 2 captions each."""
    (root / "annotations").mkdir(parents=True)
    for folder, images in (("train2017", TRAIN), ("val2017", VAL)):
        (root / folder).mkdir()
        for image_id, colour in images.items():
            img = Image.new("RGB", (32, 32), "white")
            img.paste(COLOURS[colour], (6, 6, 26, 26))
            img.save(root / folder / f"{image_id:012d}.jpg", quality=95)
        uncaptioned = (UNCAPTIONED,) if folder == "train2017" else ()
        data = _annotations(folder, images, uncaptioned)
        (root / "annotations" / f"captions_{folder}.json").write_text(json.dumps(data))
    return root


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_coco(tmp_path_factory.mktemp("coco") / "coco")


def test_reader_splits_paths_and_captions(coco_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="training.data"):
        recs = load_coco2017(coco_root)
    assert "skipped 1 of 4 images without a caption in" in caplog.text
    assert recs[0] == ImageRecord(
        "9",
        "train2017/000000000009.jpg",
        "train",
        (("a", "red", "square"), ("a", "red", "box", "on", "white")),
    )
    assert [r.image_id for r in recs] == ["9", "25", "30", "139", "285", "632", "802"]
    assert [r.split for r in recs] == ["train", "train", "train", "test", "val", "test", "val"]
    for r in recs[3:]:
        assert r.path.startswith("val2017/") and r.split == split_for(r.path, 0.5, 0.5)
    assert all((coco_root / r.path).is_file() for r in recs)


def _copy_annotations(coco_root: Path, dst: Path, without: str = "") -> Path:
    (dst / "annotations").mkdir(parents=True)
    for src in (coco_root / "annotations").iterdir():
        if src.name != without:
            (dst / "annotations" / src.name).write_text(src.read_text())
    return dst


def test_incomplete_layout_names_the_missing_file(coco_root: Path, tmp_path: Path) -> None:
    root = _copy_annotations(coco_root, tmp_path / "c", without="captions_val2017.json")
    with pytest.raises(
        ValueError, match=r"incomplete COCO 2017 layout: no annotations/captions_val2017.json in .*/c$"
    ):
        load_coco2017(root)
    with pytest.raises(ValueError, match="no annotations/captions_train2017.json, annotations/captions_val"):
        load_dataset(tmp_path)  # a folder that is not COCO at all


def test_annotation_for_a_missing_image_is_an_error(coco_root: Path, tmp_path: Path) -> None:
    root = _copy_annotations(coco_root, tmp_path / "c")
    path = root / "annotations" / "captions_train2017.json"
    data = json.loads(path.read_text())
    data["annotations"].append({"id": 77, "image_id": 12345, "caption": "a ghost"})
    path.write_text(json.dumps(data))
    with pytest.raises(
        ValueError,
        match=r"annotation 77 points at image id 12345, which is not in 'images': .*captions_train2017",
    ):
        load_coco2017(root)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"not valid JSON: .*captions_val2017.json: Expecting property name"),
        ('{"images": []}', r"not a COCO captions file \(needs 'images' and 'annotations'\): .*val2017"),
    ],
)
def test_broken_annotation_files_are_named(coco_root: Path, tmp_path: Path, text: str, message: str) -> None:
    root = _copy_annotations(coco_root, tmp_path / "c")
    (root / "annotations" / "captions_val2017.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        load_coco2017(root)


def test_load_dataset_picks_the_reader(coco_root: Path, tmp_path: Path) -> None:
    assert load_dataset(coco_root) == load_coco2017(coco_root)
    plain = load_dataset(coco_root / "annotations" / "captions_val2017.json")
    assert [r.path for r in plain] == [f"{i:012d}.jpg" for i in sorted(VAL)]  # beside the JSON
    assert plain[0].split == split_for("000000000139.jpg")
    karpathy = [ImageRecord("1", "imgs/a.png", "val", (("a", "cat"),))]
    write_karpathy(tmp_path / "k.json", karpathy, "test")
    assert load_dataset(tmp_path / "k.json") == karpathy
    with pytest.raises(
        ValueError, match=r"no such dataset \(a Karpathy or COCO JSON, or a COCO 2017 folder\)"
    ):
        load_dataset(tmp_path / "missing.json")


def test_image_root_defaults_to_the_coco_folder_or_the_json_folder(coco_root: Path) -> None:
    assert TrainConfig(str(coco_root), "run").image_root_path() == coco_root
    plain = coco_root / "annotations" / "captions_val2017.json"
    assert TrainConfig(str(plain), "run").image_root_path() == coco_root / "annotations"
    assert TrainConfig(str(coco_root), "run", image_root="/imgs").image_root_path() == Path("/imgs")


def test_train_one_tiny_epoch_on_coco(coco_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["--dataset", str(coco_root), "--out", str(out), "--preset", "tiny", "--epochs", "1"]
    tc = parse_args([*argv, "--device", "cpu", "--cache-dir", str(tmp_path / "features")])
    best = train(tc)
    assert best == out / "best.pt" and (out / "last.pt").is_file()
    assert json.loads((out / "metrics.jsonl").read_text())["epoch"] == 1
    caches = sorted((tmp_path / "features").glob("features-tiny-*.pt"))
    assert len(caches) == 2  # train and val, every image found under the COCO folder
    assert all(torch.load(c, weights_only=True)["ok"].all() for c in caches)
    captioner = load_captioner(best)
    assert {"red", "blue", "green", "square", "box"} <= set(captioner.vocab.words)
    assert "yellow" not in captioner.vocab.words  # only in val and on the uncaptioned train image
    result = captioner.caption_batch([Image.open(coco_root / "val2017" / "000000000139.jpg")])[0]
    assert isinstance(result.text, str)
