"""Inference API for the indexing pipeline: load a checkpoint once, caption batches of images.

    captioner = load_captioner(Path("run/best.pt"), device="cpu")
    results = captioner.caption_batch(images, beam_size=3, max_length=20)

DataLoader workers can run `captioner.preprocess` (or `preprocess_image`) themselves and hand
stacked tensors to `caption_tensors`, keeping decoding out of the model process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.backbones import spec
from training.beam import beam_search
from training.checkpoint import model_from_checkpoint, read_checkpoint
from training.images import preprocess_image
from training.model import ModelConfig, ShowAttendTell
from training.precision import PRECISIONS
from training.vocab import Vocabulary

__all__ = ["PRECISIONS", "CaptionResult", "Captioner", "draw_attention", "load_captioner", "preprocess_image"]

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class CaptionResult:
    text: str
    tokens: list[int]  # word ids, without <start>/<end>
    score: float  # length-normalised log-probability
    attention: np.ndarray | None = None  # (words, grid, grid), one map per word, if asked for
    # The beam's other finished hypotheses as (text, score), best first, texts distinct from each
    # other and from ``text``: more words for search to match (indexing stores them beside the caption).
    alternatives: tuple[tuple[str, float], ...] = ()


class Captioner:
    """A trained model plus its vocabulary and preprocessing; thread-compatible for inference."""

    def __init__(
        self,
        model: ShowAttendTell,
        vocab: Vocabulary,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
    ) -> None:
        self.device = torch.device(device)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError(f"precision fp16 needs a CUDA device, got {self.device.type}; use bf16 or fp32")
        self.precision = precision
        self.model = model.to(self.device).eval()
        self.vocab = vocab
        self.config: ModelConfig = model.config
        self._spec = spec(self.config.backbone)

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_AUTOCAST_DTYPES[self.precision])

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        """(3, S, S) tensor with this model's size and normalisation; any PIL mode or size."""
        return preprocess_image(img, self.config.image_size, self._spec.mean, self._spec.std)

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Preprocessed images (B, 3, S, S) -> feature grids (B, P, E), in fp32 whatever the precision
        (the tagger's head and the decoder's initial state read them)."""
        with self._autocast():
            return self.model.encoder(pixels.to(self.device)).float()

    @torch.no_grad()
    def caption_features(
        self, features: torch.Tensor, beam_size: int = 3, max_length: int = 20, with_attention: bool = False
    ) -> list[CaptionResult]:
        """Captions for feature grids (B, P, E), all images decoded in one batched beam search."""
        if len(features) == 0:
            return []
        with self._autocast():
            out = beam_search(self.model.decoder, features.to(self.device).float(), beam_size, max_length)
        grid = self.config.grid_size
        results = []
        for i, (tokens, n, score, alphas) in enumerate(
            zip(out.tokens.cpu(), out.lengths.cpu(), out.scores.cpu(), out.alphas.cpu(), strict=True)
        ):
            ids = [int(t) for t in tokens[: int(n)]]
            text = " ".join(self.vocab.decode(ids))
            att = alphas[: int(n)].reshape(int(n), grid, grid).numpy() if with_attention else None
            others = self._alternatives(
                out.all_tokens[i].cpu(), out.all_lengths[i].cpu(), out.all_scores[i].cpu(), text
            )
            results.append(CaptionResult(text, ids, float(score), att, others))
        return results

    def _alternatives(
        self, tokens: torch.Tensor, lengths: torch.Tensor, scores: torch.Tensor, best: str
    ) -> tuple[tuple[str, float], ...]:
        """(k, T) hypotheses of one image -> the distinct finished texts other than ``best``, best first."""
        seen = {best}
        found = []
        for j in torch.argsort(scores, descending=True, stable=True).tolist():
            if not torch.isfinite(scores[j]):
                continue
            text = " ".join(self.vocab.decode([int(t) for t in tokens[j, : int(lengths[j])]]))
            if text not in seen:
                seen.add(text)
                found.append((text, float(scores[j])))
        return tuple(found)

    def caption_tensors(
        self, pixels: torch.Tensor, beam_size: int = 3, max_length: int = 20, with_attention: bool = False
    ) -> list[CaptionResult]:
        """Captions for a stacked batch of preprocessed images (B, 3, S, S)."""
        return self.caption_features(self.encode(pixels), beam_size, max_length, with_attention)

    def caption_batch(
        self,
        images: Sequence[Image.Image],
        beam_size: int = 3,
        max_length: int = 20,
        with_attention: bool = False,
    ) -> list[CaptionResult]:
        """One caption per image, in input order."""
        if not images:
            return []
        pixels = torch.stack([self.preprocess(img) for img in images])
        return self.caption_tensors(pixels, beam_size, max_length, with_attention)


def load_captioner(
    checkpoint_path: Path, device: str | torch.device = "cpu", precision: str = "fp32"
) -> Captioner:
    """Load a checkpoint written by `training.train` (weights only; no pickled code is run)."""
    model, vocab = model_from_checkpoint(read_checkpoint(Path(checkpoint_path)))
    return Captioner(model, vocab, device, precision)


def draw_attention(image: Image.Image, result: CaptionResult, path: Path, columns: int = 5) -> None:
    """Save a PNG grid: the image, then the image under each word's attention map."""
    if result.attention is None:
        raise ValueError("result has no attention maps; caption with with_attention=True")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = [*result.text.split(), "<end>"]
    maps = result.attention
    img = np.asarray(image.convert("RGB").resize((224, 224)))
    panels = min(len(words), len(maps))
    rows = (panels + 1 + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(img)
    axes.flat[0].set_title("image", fontsize=9)
    for i in range(panels):
        heat = Image.fromarray((maps[i] / max(float(maps[i].max()), 1e-9) * 255).astype(np.uint8))
        heat_arr = np.asarray(heat.resize((224, 224), Image.Resampling.BICUBIC)) / 255.0
        ax = axes.flat[i + 1]
        ax.imshow(img)
        ax.imshow(heat_arr, cmap="jet", alpha=0.45)
        ax.set_title(words[i], fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """`python -m training.caption --checkpoint RUN/best.pt IMAGE... [--beam 3] [--attention-dir DIR]`"""
    import argparse

    from training.images import load_image

    p = argparse.ArgumentParser(prog="python -m training.caption", description="Caption image files.")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--beam", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--attention-dir", type=Path, help="write one attention PNG per image here")
    args = p.parse_args(argv)
    captioner = load_captioner(args.checkpoint, args.device)
    images = [load_image(path) for path in args.images]
    results = captioner.caption_batch(images, args.beam, with_attention=args.attention_dir is not None)
    for path, img, res in zip(args.images, images, results, strict=True):
        print(f"{path}\t{res.text}\t{res.score:.3f}")
        if args.attention_dir is not None:
            draw_attention(img, res, args.attention_dir / f"{path.stem}.attention.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
