"""Legacy TCN: causal dilated convolutions with residual connections over OHLC (Bai, Kolter & Koltun, 2018)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from moola.models.base import MoolaModule
from moola.params import require


@dataclass
class TCNConfig:
    """Would-be params section `tcn:`."""

    channels: int = 32  # convolution channels per block
    levels: int = 4  # residual blocks; block i has dilation 2**i
    kernel_size: int = 3  # taps per convolution
    dropout: float = 0.2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        require(self.channels >= 1, "tcn.channels", f"must be >= 1, got {self.channels}")
        require(self.levels >= 1, "tcn.levels", f"must be >= 1, got {self.levels}")
        require(self.kernel_size >= 2, "tcn.kernel_size", f"must be >= 2, got {self.kernel_size}")
        require(0.0 <= self.dropout < 1.0, "tcn.dropout", f"must be in [0, 1), got {self.dropout}")


class CausalBlock(nn.Module):
    """Two causal dilated convolutions plus a residual: (B, C_in, T) -> (B, C_out, T)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.left_pad = (kernel_size - 1) * dilation  # pad the past only, so bar t never sees t+1
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, dilation=dilation)
        self.dropout = nn.Dropout(dropout)
        self.residual = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(torch.relu(self.conv1(nn.functional.pad(x, (self.left_pad, 0)))))
        h = self.dropout(torch.relu(self.conv2(nn.functional.pad(h, (self.left_pad, 0)))))
        return torch.relu(h + self.residual(x))


class TCN(MoolaModule):
    """OHLC -> stacked causal blocks -> last bar's channels -> logits. Ignores the features."""

    def __init__(self, config: TCNConfig, n_classes: int = 3, ohlc_dim: int = 4):
        super().__init__()
        self.config = config
        self.n_classes = n_classes
        widths = [ohlc_dim] + [config.channels] * config.levels
        self.blocks = nn.Sequential(
            *[
                CausalBlock(widths[i], widths[i + 1], config.kernel_size, dilation=2**i, dropout=config.dropout)
                for i in range(config.levels)
            ]
        )
        self.head = nn.Linear(config.channels, n_classes)

    def forward(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        h = self.blocks(ohlc.transpose(1, 2))  # (B, 4, T) -> (B, C, T)
        return self.head(h[:, :, -1])  # (B, n_classes)
