"""SimpleLSTM: the sanity baseline, one small unidirectional LSTM over OHLC bars."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from moola.models.base import MoolaModule
from moola.params import require


@dataclass
class SimpleLSTMConfig:
    """Params section `simple_lstm:`."""

    hidden: int = 32  # LSTM hidden size, 4..512
    dropout: float = 0.1  # before the output layer, 0..0.9

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        require(4 <= self.hidden <= 512, "simple_lstm.hidden", f"must be in 4..512, got {self.hidden}")
        require(0.0 <= self.dropout < 0.9, "simple_lstm.dropout", f"must be in [0, 0.9), got {self.dropout}")


class SimpleLSTM(MoolaModule):
    """OHLC only: one unidirectional LSTM layer, its last state, a linear layer. Ignores the features.

    If a richer model cannot beat this one, the richer model (or the data) has a problem.
    """

    def __init__(self, config: SimpleLSTMConfig, n_classes: int = 3, ohlc_dim: int = 4):
        super().__init__()
        self.config = config
        self.n_classes = n_classes
        self.lstm = nn.LSTM(input_size=ohlc_dim, hidden_size=config.hidden, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, n_classes)

    def forward(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.lstm(ohlc)  # (B, T, 4) -> (B, T, H)
        last = sequence[:, -1]  # (B, H): the state after the most recent bar
        return self.head(self.dropout(last))  # (B, n_classes)
