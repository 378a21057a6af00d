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


_MIN_STEP_STD = 1e-6


def with_steps(x: torch.Tensor) -> torch.Tensor:
    """Each bar's values and their change from the bar before: (B, T, C) -> (B, T, 2C).

    The changes (0 at t = 0) are divided by their own standard deviation over the window, per
    channel, so they reach the LSTM at unit scale whatever the level standardisation did to
    them. The LSTMs read both: levels alone bury a short shape (a rise, a V) under the random
    walk's wander over the window, which an LSTM with about a hundred labels does not learn to
    undo; the changes show the shape where it happens (docs/MODEL_CLARITY.md, weak signals).
    """
    steps = torch.diff(x, dim=1, prepend=x[:, :1])  # (B, T, C)
    steps = steps / (steps.std(dim=1, keepdim=True) + _MIN_STEP_STD)  # (B, T, C) / (B, 1, C)
    return torch.cat([x, steps], dim=2)


class BiLSTMEncoder(nn.Module):
    """Bidirectional LSTM over bars and their changes (`with_steps`): (B, T, C) -> (B, T, 2H)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            input_size=2 * config.input_dim,
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
        out, _ = self.lstm(with_steps(x))  # (B, T, C) -> (B, T, 2C) -> (B, T, 2H)
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
