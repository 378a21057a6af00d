"""Legacy RWKV-style recurrent model: time mixing with a learned exponential decay (Peng et al., 2023).

Each block mixes every bar with the previous one (token shift), then computes the WKV
recurrence, an attention-like weighted average of past values whose weights decay by
exp(-w) per bar, with a bonus u for the current bar; a channel-mixing MLP follows. The
recurrence runs as a loop over bars with a running maximum exponent for numerical stability.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from moola.models.base import MoolaModule
from moola.params import require


@dataclass
class RWKVConfig:
    """Would-be params section `rwkv_ts:`."""

    hidden: int = 32  # channel width
    layers: int = 2  # RWKV blocks

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        require(self.hidden >= 1, "rwkv_ts.hidden", f"must be >= 1, got {self.hidden}")
        require(self.layers >= 1, "rwkv_ts.layers", f"must be >= 1, got {self.layers}")


def token_shift(x: torch.Tensor) -> torch.Tensor:
    """The previous bar's vector at every position (zeros before the first): (B, T, D) -> (B, T, D)."""
    return nn.functional.pad(x, (0, 0, 1, -1))


def wkv(decay: torch.Tensor, bonus: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """WKV recurrence: (D,), (D,), (B, T, D), (B, T, D) -> (B, T, D).

    out_t = (sum_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t) / (same weights without v),
    kept stable by carrying numerator and denominator scaled by e^{-p}, p the largest exponent.
    """
    batch, length, dim = k.shape
    numerator = torch.zeros(batch, dim, dtype=k.dtype, device=k.device)
    denominator = torch.zeros_like(numerator)
    running_max = torch.full_like(numerator, -1e38)
    outputs = []
    for t in range(length):
        k_t, v_t = k[:, t], v[:, t]
        # output at t: past state plus the current bar with its bonus
        top = torch.maximum(running_max, bonus + k_t)
        past, now = torch.exp(running_max - top), torch.exp(bonus + k_t - top)
        outputs.append((past * numerator + now * v_t) / (past * denominator + now))
        # state for t + 1: decay the past by e^{-w}, add the current bar without bonus
        decayed = running_max - decay
        top = torch.maximum(decayed, k_t)
        past, now = torch.exp(decayed - top), torch.exp(k_t - top)
        numerator = past * numerator + now * v_t
        denominator = past * denominator + now
        running_max = top
    return torch.stack(outputs, dim=1)


class RWKVBlock(nn.Module):
    """Time mixing (WKV) then channel mixing, each residual with a LayerNorm: (B, T, D) -> (B, T, D)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm_time = nn.LayerNorm(dim)
        self.norm_channel = nn.LayerNorm(dim)
        self.mix = nn.Parameter(torch.full((3, dim), 0.5))  # token-shift mix for k, v, r
        self.log_decay = nn.Parameter(torch.zeros(dim))  # w = exp(log_decay) > 0
        self.bonus = nn.Parameter(torch.zeros(dim))
        self.key, self.value, self.receptance = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.output = nn.Linear(dim, dim, bias=False)
        self.channel_key = nn.Linear(dim, 2 * dim, bias=False)
        self.channel_value = nn.Linear(2 * dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm_time(x)
        previous = token_shift(h)
        mixed = [h * m + previous * (1 - m) for m in self.mix]
        k, v, r = self.key(mixed[0]), self.value(mixed[1]), torch.sigmoid(self.receptance(mixed[2]))
        x = x + self.output(r * wkv(torch.exp(self.log_decay), self.bonus, k, v))
        h = self.norm_channel(x)
        return x + self.channel_value(torch.relu(self.channel_key(h)) ** 2)


class RWKVTimeSeries(MoolaModule):
    """OHLC -> linear embedding -> RWKV blocks -> last bar -> logits. Ignores the features."""

    def __init__(self, config: RWKVConfig, n_classes: int = 3, ohlc_dim: int = 4):
        super().__init__()
        self.config = config
        self.n_classes = n_classes
        self.embed = nn.Linear(ohlc_dim, config.hidden)
        self.blocks = nn.Sequential(*[RWKVBlock(config.hidden) for _ in range(config.layers)])
        self.norm = nn.LayerNorm(config.hidden)
        self.head = nn.Linear(config.hidden, n_classes)

    def forward(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.embed(ohlc))  # (B, T, 4) -> (B, T, D)
        return self.head(self.norm(h[:, -1]))  # (B, n_classes)
