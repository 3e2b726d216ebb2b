from __future__ import annotations

import dataclasses

import pytest
import torch

from training.model import Decoder, Encoder, ModelConfig, ShowAttendTell, caption_loss


def tiny(**kw: object) -> ModelConfig:
    base = dict(
        vocab_size=11,
        backbone="tiny",
        pretrained=False,
        image_size=32,
        grid_size=3,
        embed_dim=8,
        attention_dim=6,
        decoder_dim=10,
        dropout=0.0,
    )
    return ModelConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_shapes_through_the_whole_model() -> None:
    torch.manual_seed(0)
    model = ShowAttendTell(tiny())
    images = torch.randn(2, 3, 32, 32)
    captions = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])
    feats = model.encoder(images)
    assert feats.shape == (2, 9, 64)  # (B, grid*grid, tiny channels)
    logits, alphas = model(images, captions)
    assert logits.shape == (2, 3, 11)
    assert alphas.shape == (2, 3, 9)
    assert torch.allclose(alphas.sum(-1), torch.ones(2, 3), atol=1e-5)


def test_loss_ignores_padding() -> None:
    torch.manual_seed(0)
    dec = Decoder(tiny())
    feats = torch.randn(2, 9, 64)
    captions = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])
    lengths = torch.tensor([4, 3])
    logits, alphas = dec(feats, captions)
    loss, ce = caption_loss(logits, alphas, captions, lengths, alpha_c=1.0)
    poked = logits.clone()
    poked[1, 2] += 100.0  # row 1 has 2 real targets; step 2 predicts padding
    alphas_poked = alphas.clone()
    alphas_poked[1, 2] = 1.0
    loss2, ce2 = caption_loss(poked, alphas_poked, captions, lengths, alpha_c=1.0)
    assert torch.allclose(loss, loss2) and torch.allclose(ce, ce2)
    expected = torch.nn.functional.cross_entropy(
        torch.cat([logits[0, :3], logits[1, :2]]), torch.tensor([5, 6, 2, 7, 2])
    )
    assert torch.allclose(ce, expected)


def test_doubly_stochastic_regulariser_is_zero_for_uniform_total_attention() -> None:
    captions = torch.tensor([[1, 5, 6, 2]])
    logits = torch.zeros(1, 3, 11)
    alphas = torch.full((1, 3, 3), 1 / 3)  # each of 3 positions gets 3 * 1/3 = 1 over the caption
    loss, ce = caption_loss(logits, alphas, captions, torch.tensor([4]), alpha_c=5.0)
    assert torch.allclose(loss, ce)
    peaked = torch.zeros(1, 3, 3)
    peaked[..., 0] = 1.0
    loss2, _ = caption_loss(logits, peaked, captions, torch.tensor([4]), alpha_c=5.0)
    assert float(loss2 - ce) == pytest.approx(5.0 * ((1 - 3) ** 2 + 1 + 1) / 3)


def test_frozen_encoder_stays_in_eval_and_fine_tuning_unfreezes_top_blocks() -> None:
    frozen = Encoder(tiny())
    frozen.train()
    assert not frozen.training
    assert not any(p.requires_grad for p in frozen.parameters())
    tuned = Encoder(tiny(fine_tune_blocks=1))
    tuned.train()
    assert tuned.training
    trainable = {n for n, p in tuned.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("backbone.body.1.") for n in trainable)


def test_config_validation_and_round_trip() -> None:
    cfg = tiny()
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        dataclasses.replace(cfg, backbone="vgg")
    with pytest.raises(ValueError, match="dropout must be in"):
        dataclasses.replace(cfg, dropout=1.0)
    with pytest.raises(ValueError, match="unknown model config keys: colour"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": 1})


def test_fine_tuning_leaves_frozen_blocks_in_eval_mode() -> None:
    tuned = Encoder(tiny(fine_tune_blocks=1)).train()
    first, last = tuned.backbone.blocks
    assert not first.training and last.training
    tuned.eval()
    assert not last.training


def test_label_smoothing_changes_the_loss_but_not_the_reported_cross_entropy() -> None:
    torch.manual_seed(0)
    captions = torch.tensor([[1, 5, 6, 2]])
    logits = torch.randn(1, 3, 11) * 4
    alphas = torch.full((1, 3, 3), 1 / 3)
    loss, ce = caption_loss(logits, alphas, captions, torch.tensor([4]), alpha_c=0.0)
    smooth, smooth_ce = caption_loss(logits, alphas, captions, torch.tensor([4]), 0.0, label_smoothing=0.1)
    assert torch.allclose(ce, smooth_ce) and torch.allclose(loss, ce)
    expected = torch.nn.functional.cross_entropy(logits[0], torch.tensor([5, 6, 2]), label_smoothing=0.1)
    assert torch.allclose(smooth, expected)
