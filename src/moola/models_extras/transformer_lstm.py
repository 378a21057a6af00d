"""Legacy transformer-LSTM hybrid: an LSTM over OHLC, then self-attention over its states."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from moola.models.base import MoolaModule
from moola.params import require


@dataclass
class TransformerLSTMConfig:
    """Would-be params section `transformer_lstm:`."""

    hidden: int = 32  # LSTM hidden size = attention width
    heads: int = 4  # attention heads; must divide hidden
    layers: int = 1  # transformer encoder layers on top of the LSTM
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        require(self.hidden >= 1, "transformer_lstm.hidden", f"must be >= 1, got {self.hidden}")
        require(
            self.heads >= 1 and self.hidden % self.heads == 0,
            "transformer_lstm.heads",
            f"must divide hidden = {self.hidden}, got {self.heads}",
        )
        require(self.layers >= 1, "transformer_lstm.layers", f"must be >= 1, got {self.layers}")
        require(0.0 <= self.dropout < 1.0, "transformer_lstm.dropout", f"must be in [0, 1), got {self.dropout}")


class TransformerLSTM(MoolaModule):
    """OHLC -> LSTM states -> transformer encoder -> mean over time, with the features -> logits."""

    def __init__(self, config: TransformerLSTMConfig, n_classes: int = 3, ohlc_dim: int = 4, feats_dim: int = 20):
        super().__init__()
        self.config = config
        self.n_classes = n_classes
        self.lstm = nn.LSTM(ohlc_dim, config.hidden, batch_first=True)
        layer = nn.TransformerEncoderLayer(
            d_model=config.hidden,
            nhead=config.heads,
            dim_feedforward=2 * config.hidden,
            dropout=config.dropout,
            batch_first=True,
        )
        self.attention = nn.TransformerEncoder(layer, num_layers=config.layers, enable_nested_tensor=False)
        self.head = nn.Linear(config.hidden + feats_dim, n_classes)

    def forward(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(ohlc)  # (B, T, 4) -> (B, T, H): the LSTM supplies order, no positional code
        attended = self.attention(states)  # (B, T, H)
        return self.head(torch.cat([attended.mean(dim=1), feats], dim=1))  # (B, H + 20) -> (B, n_classes)
