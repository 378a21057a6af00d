"""SimpleLSTM: the sanity baseline, one small unidirectional LSTM over OHLC bars."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from moola.models.base import MoolaModule
from moola.models.encoders import with_steps
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
    """OHLC only: one unidirectional LSTM layer, its pooled states, a linear layer. Ignores the features.

    The LSTM reads each bar and its change from the bar before (`with_steps`); the head sees the
    last state with the mean and max over time (a shape anywhere in the window reaches it).

    If a richer model cannot beat this one, the richer model (or the data) has a problem.
    """

    def __init__(self, config: SimpleLSTMConfig, n_classes: int = 3, ohlc_dim: int = 4):
        super().__init__()
        self.config = config
        self.n_classes = n_classes
        self.lstm = nn.LSTM(input_size=2 * ohlc_dim, hidden_size=config.hidden, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(3 * config.hidden, n_classes)

    def forward(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.lstm(with_steps(ohlc))  # (B, T, 4) -> (B, T, 8) -> (B, T, H)
        # The state after the most recent bar, and the mean and max over every bar: (B, 3H).
        summary = torch.cat([sequence[:, -1], sequence.mean(dim=1), sequence.amax(dim=1)], dim=1)
        return self.head(self.dropout(summary))  # (B, n_classes)
