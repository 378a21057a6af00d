"""Legacy CNN-transformer: a strided convolutional stem shortens the series, a transformer attends over it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from moola.models.base import MoolaModule
from moola.params import require


@dataclass
class CNNTransformerConfig:
    """Would-be params section `cnn_transformer:`."""

    channels: int = 32  # stem channels = attention width
    heads: int = 4  # attention heads; must divide channels
    layers: int = 2  # transformer encoder layers
    stride: int = 4  # the stem shortens T by this factor
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        require(
            self.channels >= 1 and self.heads >= 1 and self.channels % self.heads == 0,
            "cnn_transformer.heads",
            f"must divide channels = {self.channels}, got {self.heads}",
        )
        require(self.layers >= 1, "cnn_transformer.layers", f"must be >= 1, got {self.layers}")
        require(self.stride >= 1, "cnn_transformer.stride", f"must be >= 1, got {self.stride}")
        require(0.0 <= self.dropout < 1.0, "cnn_transformer.dropout", f"must be in [0, 1), got {self.dropout}")


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """The transformer paper's fixed position code: (length, dim)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    code = torch.zeros(length, dim, device=device)
    code[:, 0::2] = torch.sin(position * frequency)
    code[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return code


class CNNTransformer(MoolaModule):
    """OHLC -> conv stem (stride s) -> + positions -> transformer -> mean over time -> logits."""

    def __init__(self, config: CNNTransformerConfig, n_classes: int = 3, ohlc_dim: int = 4):
        super().__init__()
        self.config = config
        self.n_classes = n_classes
        self.stem = nn.Sequential(
            nn.Conv1d(
                ohlc_dim,
                config.channels,
                kernel_size=2 * config.stride + 1,
                stride=config.stride,
                padding=config.stride,
            ),
            nn.GELU(),
        )
        layer = nn.TransformerEncoderLayer(
            d_model=config.channels,
            nhead=config.heads,
            dim_feedforward=2 * config.channels,
            dropout=config.dropout,
            batch_first=True,
        )
        self.attention = nn.TransformerEncoder(layer, num_layers=config.layers, enable_nested_tensor=False)
        self.head = nn.Linear(config.channels, n_classes)

    def forward(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        h = self.stem(ohlc.transpose(1, 2)).transpose(1, 2)  # (B, T, 4) -> (B, T / s, C)
        h = h + sinusoidal_positions(h.shape[1], h.shape[2], h.device)
        return self.head(self.attention(h).mean(dim=1))  # (B, n_classes)
