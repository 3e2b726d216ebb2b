from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training import demo
from training.data import load_karpathy


def test_demo_falls_back_to_synthetic_shapes_without_openclipart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "find_openclipart_root", lambda: None)
    path = demo.demo_dataset(tmp_path, max_images=40)
    records = load_karpathy(path)
    assert len(records) == 20 and path.parent.name == "shapes"


def test_demo_reuses_the_shapes_corpus_it_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "find_openclipart_root", lambda: None)
    builds: list[Path] = []
    build = demo.make_shapes_dataset

    def build_once(out_dir: Path, **kwargs: Any) -> Path:
        if builds:
            raise AssertionError("the shapes corpus was built a second time")
        builds.append(out_dir)
        return build(out_dir, **kwargs)

    monkeypatch.setattr(demo, "make_shapes_dataset", build_once)
    path = demo.demo_dataset(tmp_path, max_images=40)
    before = path.stat()
    assert demo.demo_dataset(tmp_path, max_images=40) == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert builds == [path.parent]
