"""Show, Attend and Tell (Xu et al., 2015): CNN encoder, soft attention, LSTM decoder.

Pure modules and a config dataclass: no file I/O here besides what a backbone needs to build its
pretrained weights, and no device is chosen at import.
Shapes: B batch, P = grid*grid attention positions, E encoder channels, A attention dim,
D decoder (LSTM) dim, M embedding dim, V vocabulary size, T caption steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from training.backbones import Backbone, build_backbone, spec


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    image_size: int = 224
    grid_size: int = 7  # the paper uses 14 (ResNet-101 at 448 px or pooled); lite0 at 224 px gives 7
    fine_tune_blocks: int = 0  # top backbone blocks trained with the decoder; 0 = frozen encoder
    embed_dim: int = 512
    attention_dim: int = 512
    decoder_dim: int = 512
    dropout: float = 0.5

    def __post_init__(self) -> None:
        spec(self.backbone)
        for name in ("vocab_size", "image_size", "grid_size", "embed_dim", "attention_dim", "decoder_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.vocab_size < 5:
            raise ValueError("vocab_size must be >= 5")
        if self.fine_tune_blocks < 0:
            raise ValueError("fine_tune_blocks must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")

    @property
    def encoder_dim(self) -> int:
        return spec(self.backbone).channels

    @property
    def num_pixels(self) -> int:
        return self.grid_size * self.grid_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**data)


class Encoder(nn.Module):
    """Images (B, 3, S, S) -> feature grid (B, P, E). Frozen unless `fine_tune_blocks` > 0."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.backbone: Backbone = build_backbone(config.backbone, config.pretrained, config.image_size)
        self.pool = nn.AdaptiveAvgPool2d((config.grid_size, config.grid_size))
        self.fine_tune_blocks = config.fine_tune_blocks
        for p in self.backbone.parameters():
            p.requires_grad = False
        if config.fine_tune_blocks:
            for block in self.backbone.blocks[-config.fine_tune_blocks :]:
                for p in block.parameters():
                    p.requires_grad = True

    def train(self, mode: bool = True) -> Encoder:
        # Frozen blocks keep their BatchNorm statistics: only the fine-tuned top blocks follow `mode`.
        super().train(False)
        self.training = mode and self.fine_tune_blocks > 0
        if self.fine_tune_blocks:
            for block in self.backbone.blocks[-self.fine_tune_blocks :]:
                block.train(mode)
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        grid = self.pool(self.backbone(images))  # (B, E, G, G)
        return grid.flatten(2).transpose(1, 2)  # (B, P, E)


class Attention(nn.Module):
    """Soft (deterministic) attention: an MLP scores each position from the features and h."""

    def __init__(self, encoder_dim: int, decoder_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)

    def project(self, features: torch.Tensor) -> torch.Tensor:
        return self.encoder_att(features)  # (B, P, A): computed once per caption, not per step

    def forward(
        self, features: torch.Tensor, projected: torch.Tensor, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.full_att(torch.tanh(projected + self.decoder_att(h).unsqueeze(1))).squeeze(2)  # (B, P)
        alpha = torch.softmax(scores, dim=1)  # (B, P)
        context = (features * alpha.unsqueeze(2)).sum(dim=1)  # (B, E)
        return context, alpha


class Decoder(nn.Module):
    """LSTM decoder with soft attention, gating scalar beta and the deep output layer (eq. 7)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        e, d, m = config.encoder_dim, config.decoder_dim, config.embed_dim
        self.attention = Attention(e, d, config.attention_dim)
        self.embedding = nn.Embedding(config.vocab_size, m)
        self.init_h = nn.Linear(e, d)
        self.init_c = nn.Linear(e, d)
        self.f_beta = nn.Linear(d, e)
        self.lstm = nn.LSTMCell(m + e, d)
        # Deep output: p(y_t) ~ exp(L_o(E y_{t-1} + L_h h_t + L_z z_t)).
        self.out_h = nn.Linear(d, m)
        self.out_z = nn.Linear(e, m, bias=False)
        self.out = nn.Linear(m, config.vocab_size)
        self.dropout = nn.Dropout(config.dropout)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)

    def init_state(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = features.mean(dim=1)  # (B, E)
        return torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))  # (B, D) each

    def step(
        self,
        features: torch.Tensor,
        projected: torch.Tensor,
        prev_tokens: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One word: returns logits (B, V), alpha (B, P) and the new (h, c)."""
        emb = self.embedding(prev_tokens)  # (B, M)
        context, alpha = self.attention(features, projected, h)
        context = torch.sigmoid(self.f_beta(h)) * context  # gating scalar beta, per channel as in the paper
        h, c = self.lstm(torch.cat([emb, context], dim=1), (h, c))
        logits = self.out(self.dropout(emb + self.out_h(h) + self.out_z(context)))  # (B, V)
        return logits, alpha, h, c

    def forward(self, features: torch.Tensor, captions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing. `captions` (B, T) start with `<start>` and are padded after `<end>`.

        Returns logits (B, T-1, V) predicting captions[:, 1:] and alphas (B, T-1, P). Padding is
        not packed or sorted: every row runs all steps and the loss masks padded positions, which
        keeps row order intact and cannot break on ragged lengths.
        """
        projected = self.attention.project(features)
        h, c = self.init_state(features)
        logits, alphas = [], []
        for t in range(captions.size(1) - 1):
            step_logits, alpha, h, c = self.step(features, projected, captions[:, t], h, c)
            logits.append(step_logits)
            alphas.append(alpha)
        return torch.stack(logits, dim=1), torch.stack(alphas, dim=1)


class ShowAttendTell(nn.Module):
    """Encoder + decoder. Training on cached features calls `decoder` alone."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def forward(self, images: torch.Tensor, captions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(self.encoder(images), captions)


def caption_loss(
    logits: torch.Tensor,
    alphas: torch.Tensor,
    captions: torch.Tensor,
    lengths: torch.Tensor,
    alpha_c: float,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy over real words plus the doubly stochastic attention regulariser.

    `lengths` (B,) count tokens including `<start>` and `<end>`; the model predicts lengths-1 of
    them. Returns (total loss, cross-entropy alone), both scalars. ``label_smoothing`` applies to the
    loss only; the cross-entropy returned is always the plain one, so logs stay comparable.
    """
    targets = captions[:, 1:]  # (B, T-1)
    steps = torch.arange(targets.size(1), device=targets.device)
    mask = steps.unsqueeze(0) < (lengths - 1).unsqueeze(1)  # (B, T-1)
    ce = nn.functional.cross_entropy(logits[mask], targets[mask])
    fit = ce
    if label_smoothing:
        fit = nn.functional.cross_entropy(logits[mask], targets[mask], label_smoothing=label_smoothing)
    # lambda * (1 - sum_t alpha_ti)^2, averaged over positions i; t runs over real steps only.
    attention_mass = (alphas * mask.unsqueeze(2)).sum(dim=1)  # (B, P)
    reg = ((1.0 - attention_mass) ** 2).mean()
    return fit + alpha_c * reg, ce
