from __future__ import annotations

from pathlib import Path

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
    assert demo.demo_dataset(tmp_path, max_images=40) == path  # reused, not rebuilt
