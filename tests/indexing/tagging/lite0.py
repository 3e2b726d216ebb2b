"""A captioner on the real EfficientNet-Lite0 (package weights) with a small untrained decoder: what the
tagging tests need (the backbone and its ImageNet head must be real; the captions need not be good)."""

from __future__ import annotations

from pathlib import Path


def write_lite0_checkpoint(path: Path, seed: int = 1) -> Path:
    import torch

    from training.checkpoint import save_checkpoint
    from training.model import ModelConfig, ShowAttendTell
    from training.vocab import Vocabulary

    torch.manual_seed(seed)
    vocab = Vocabulary.build([["a", "red", "blue", "circle", "square", "cat", "dog", "on", "the", "left"]])
    config = ModelConfig(
        vocab_size=len(vocab), embed_dim=32, attention_dim=32, decoder_dim=48, dropout=0.1
    )  # efficientnet_lite0, pretrained, 224 px, frozen
    model = ShowAttendTell(config)
    save_checkpoint(
        path, {"model_config": config.to_dict(), "vocab": vocab.to_list(), "model": model.state_dict()}
    )
    return path
