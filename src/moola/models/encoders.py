"""OHLC sequence encoders shared by TS2Vec pretraining and the classifiers that load them.

`BiLSTMEncoder` is the very module EnhancedSimpleLSTM and AdapterLSTM hold as `.encoder`, so a
TS2Vec checkpoint's tensors match theirs name for name. `DilatedCNNEncoder` is the encoder of
the TS2Vec paper (Yue et al., AAAI 2022): a linear input projection and residual blocks of
dilated 1-D convolutions with dilation 2**i.

Both map (B, T, C) -> (B, T, D) per-timestep representations; `output_dim` gives D.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class EncoderConfig:
    """Architecture of an OHLC encoder; stored in every checkpoint that holds one."""

    kind: str = "bilstm"  # bilstm | dilated_cnn
    input_dim: int = 4  # channels per bar (OHLC = 4)
    hidden: int = 64  # LSTM hidden size per direction / CNN channel width
    layers: int = 2  # LSTM layers / dilated residual blocks
    dropout: float = 0.1  # between LSTM layers (ignored for one layer)
    output_dim: int = 128  # dilated_cnn only: representation size; bilstm gives 2 * hidden

    def to_dict(self) -> dict:
        return asdict(self)


class BiLSTMEncoder(nn.Module):
    """Bidirectional LSTM over bars: (B, T, C) -> (B, T, 2H)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            input_size=config.input_dim,
            hidden_size=config.hidden,
            num_layers=config.layers,
            batch_first=True,
            bidirectional=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )

    @property
    def output_dim(self) -> int:
        return 2 * self.config.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, C) -> (B, T, 2H)
        return out


class _DilatedBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, dilation: int, kernel: int = 3):
        super().__init__()
        pad = (kernel - 1) * dilation // 2
        self.conv1 = nn.Conv1d(in_ch, out_ch, kernel, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(out_ch, out_ch, kernel, padding=pad, dilation=dilation)
        self.project = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C', T)
        residual = x if self.project is None else self.project(x)
        x = self.conv1(nn.functional.gelu(x))
        x = self.conv2(nn.functional.gelu(x))
        return x + residual


class DilatedCNNEncoder(nn.Module):
    """TS2Vec's encoder: input projection, then dilated residual conv blocks: (B, T, C) -> (B, T, D)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.input_fc = nn.Linear(config.input_dim, config.hidden)
        widths = [config.hidden] * config.layers + [config.output_dim]
        self.blocks = nn.Sequential(
            *[_DilatedBlock(widths[i], widths[i + 1], dilation=2**i) for i in range(len(widths) - 1)]
        )
        self.dropout = nn.Dropout(config.dropout)

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_fc(x)  # (B, T, C) -> (B, T, H)
        h = self.blocks(h.transpose(1, 2))  # (B, H, T) -> (B, D, T)
        return self.dropout(h.transpose(1, 2))  # (B, T, D)


def build_encoder(config: EncoderConfig) -> nn.Module:
    """Build the encoder named by `config.kind`."""
    if config.kind == "bilstm":
        return BiLSTMEncoder(config)
    if config.kind == "dilated_cnn":
        return DilatedCNNEncoder(config)
    from moola.errors import MoolaError

    raise MoolaError(f"unknown encoder kind {config.kind!r}: choose bilstm or dilated_cnn")
