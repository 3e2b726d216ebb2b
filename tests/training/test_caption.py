from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.caption import draw_attention, load_captioner
from training.checkpoint import CheckpointMismatch, model_from_checkpoint, read_checkpoint, save_checkpoint
from training.data import load_karpathy, select


@pytest.fixture(scope="module")
def captioner(tiny_run: Path):  # type: ignore[no-untyped-def]
    return load_captioner(tiny_run / "best.pt")


def test_captions_name_the_colour_and_shape(captioner, shapes_json: Path) -> None:  # type: ignore[no-untyped-def]
    recs = select(load_karpathy(shapes_json), "test") + select(load_karpathy(shapes_json), "val")
    images = [Image.open(shapes_json.parent / r.path) for r in recs]
    results = captioner.caption_batch(images, beam_size=3)
    assert len(results) == len(recs)
    right = sum(set(r.captions[1]) <= set(res.text.split()) for r, res in zip(recs, results, strict=True))
    assert right / len(recs) > 0.5, [res.text for res in results]


def test_batch_matches_single_images_and_odd_inputs_work(captioner) -> None:  # type: ignore[no-untyped-def]
    images = [
        Image.new("L", (30, 30), 90),
        Image.new("RGBA", (40, 20), (255, 0, 0, 128)),
        Image.new("CMYK", (1, 1)),
        Image.new("RGB", (10_000, 20), (0, 0, 255)),
    ]
    batch = captioner.caption_batch(images, beam_size=2, max_length=6)
    for img, res in zip(images, batch, strict=True):
        single = captioner.caption_batch([img], beam_size=2, max_length=6)[0]
        assert res.tokens == single.tokens
        assert res.score == pytest.approx(single.score, abs=1e-4)
        assert len(res.tokens) <= 6 and res.text == " ".join(captioner.vocab.decode(res.tokens))
    assert captioner.caption_batch([]) == []


def test_attention_maps_and_png(captioner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    img = Image.new("RGB", (48, 48), (220, 30, 30))
    res = captioner.caption_batch([img], beam_size=1, with_attention=True)[0]
    grid = captioner.config.grid_size
    assert res.attention is not None and res.attention.shape == (len(res.tokens), grid, grid)
    assert np.allclose(res.attention.sum(axis=(1, 2)), 1.0, atol=1e-4)
    draw_attention(img, res, tmp_path / "att.png")
    assert Image.open(tmp_path / "att.png").size[0] > 100
    with pytest.raises(ValueError, match="no attention maps"):
        draw_attention(img, captioner.caption_batch([img])[0], tmp_path / "x.png")


def test_preprocess_and_tensor_path_agree(captioner) -> None:  # type: ignore[no-untyped-def]
    img = Image.new("RGB", (48, 48), (30, 170, 60))
    x = captioner.preprocess(img)
    assert x.shape == (3, captioner.image_size, captioner.image_size) and x.dtype == torch.float32
    assert captioner.caption_tensors(x[None])[0].tokens == captioner.caption_batch([img])[0].tokens


def test_checkpoint_with_inconsistent_vocabulary_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    ck = read_checkpoint(tiny_run / "best.pt")
    ck["vocab"] = ck["vocab"][:-1]
    save_checkpoint(tmp_path / "bad.pt", {k: v for k, v in ck.items() if k != "format"})
    with pytest.raises(CheckpointMismatch, match="vocabulary has"):
        model_from_checkpoint(read_checkpoint(tmp_path / "bad.pt"))


def test_cli_prints_captions_and_writes_attention_pngs(
    tiny_run: Path, shapes_json: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.caption import main

    images = [shapes_json.parent / "images" / "00000.png", shapes_json.parent / "images" / "00001.png"]
    args = ["--checkpoint", str(tiny_run / "best.pt"), "--attention-dir", str(tmp_path), *map(str, images)]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in images]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000.attention.png", "00001.attention.png"]


def test_bf16_autocast_captions_as_fp32_does(tiny_run: Path, shapes_json: Path) -> None:
    """Mixed precision (the GPU setting, run here on the CPU's bf16 autocast) keeps the captions: the
    backbone and decoder steps run in bf16, beam search scores in fp32."""
    recs = select(load_karpathy(shapes_json), "test")
    images = [Image.open(shapes_json.parent / r.path) for r in recs]
    full = load_captioner(tiny_run / "best.pt").caption_batch(images, beam_size=3)
    mixed_captioner = load_captioner(tiny_run / "best.pt", precision="bf16")
    mixed = mixed_captioner.caption_batch(images, beam_size=3)
    pixels = torch.stack([mixed_captioner.preprocess(image) for image in images[:2]])
    assert mixed_captioner.encode(pixels).dtype == torch.float32  # what the tagger reads
    same = sum(a.text == b.text for a, b in zip(full, mixed, strict=True))
    assert same / len(full) >= 0.8, [(a.text, b.text) for a, b in zip(full, mixed, strict=True)]
    assert max(abs(a.score - b.score) for a, b in zip(full, mixed, strict=True) if a.text == b.text) < 0.1


@pytest.mark.parametrize(
    ("precision", "message"),
    [
        ("half", "precision must be one of fp32, bf16, fp16, got 'half'"),
        ("fp16", "precision fp16 needs a CUDA device, got cpu; use bf16 or fp32"),
    ],
)
def test_a_precision_the_device_cannot_run_is_refused(tiny_run: Path, precision: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        load_captioner(tiny_run / "best.pt", precision=precision)
