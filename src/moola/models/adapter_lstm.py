"""AdapterLSTM: a frozen pretrained BiLSTM encoder read through a small bottleneck adapter, unfrozen in phases.

With ~100 labels, fine-tuning a 135k-parameter encoder at once overfits; here only the adapter
and the head (5,651 parameters with the defaults) learn at first, then the top LSTM layer, then
everything, following `freeze_phases` (epochs per phase). The adapter sits on the encoder's
per-bar output: the encoder is one stacked `nn.LSTM` (so its tensors match the TS2Vec
checkpoint name for name), which cannot take layers in between. OHLC only; the 20 features
are ignored, so the model measures what the pretrained representation alone carries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from moola.errors import MoolaError
from moola.models.base import MoolaModule, pool_bidirectional, resolve_encoder_config
from moola.models.encoders import BiLSTMEncoder, EncoderConfig
from moola.params import require

PHASE_NAMES = (
    "phase 0: encoder frozen, adapters+head train",
    "phase 1: top LSTM layer unfrozen",
    "phase 2: all trainable",
)


@dataclass
class AdapterLSTMConfig:
    """Params section `adapter_lstm:` (the encoder's size comes from `encoder:`)."""

    bottleneck: int = 16  # adapter bottleneck width, 1..256
    dropout: float = 0.1  # inside the adapter and before the head, 0..0.9
    # epochs per phase: [adapters+head only, + top LSTM layer, + all]; phase 2 lasts to the end
    freeze_phases: list[int] = field(default_factory=lambda: [10, 10, 5])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        require(1 <= self.bottleneck <= 256, "adapter_lstm.bottleneck", f"must be in 1..256, got {self.bottleneck}")
        require(0.0 <= self.dropout < 0.9, "adapter_lstm.dropout", f"must be in [0, 0.9), got {self.dropout}")
        require(
            len(self.freeze_phases) == 3 and all(n >= 0 for n in self.freeze_phases),
            "adapter_lstm.freeze_phases",
            f"must be three epoch counts >= 0 [frozen, top layer, all], got {self.freeze_phases}",
        )


class BottleneckAdapter(nn.Module):
    """Residual bottleneck on each bar's representation: x + up(gelu(down(norm(x)))), (B, T, D) -> (B, T, D).

    `up` starts at zero, so before training the adapter is the identity and the model sees the
    pretrained representation unchanged.
    """

    def __init__(self, dim: int, bottleneck: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.down = nn.Linear(dim, bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.dropout(nn.functional.gelu(self.down(self.norm(x)))))


class AdapterLSTM(MoolaModule):
    """Pretrained BiLSTM encoder (required) -> adapter -> pooled summary -> linear head."""

    def __init__(
        self,
        config: AdapterLSTMConfig,
        encoder_config: EncoderConfig | dict | None = None,
        n_classes: int = 3,
    ):
        super().__init__()
        self.config = config
        self.encoder_config = resolve_encoder_config(encoder_config)
        self.n_classes = n_classes
        self.encoder = BiLSTMEncoder(self.encoder_config)
        self.adapter = BottleneckAdapter(self.encoder.output_dim, config.bottleneck, config.dropout)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(3 * self.encoder.output_dim, n_classes))
        self._phase = 0
        self.apply_freeze_schedule(0)

    def forward(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        sequence = self.adapter(self.encoder(ohlc))  # (B, T, 4) -> (B, T, 2H)
        summary = pool_bidirectional(sequence, self.encoder_config.hidden)  # (B, 6H)
        return self.head(summary)  # (B, n_classes)

    def phase_for_epoch(self, epoch: int) -> int:
        """0, 1 or 2: the freeze phase that `epoch` (0-based) falls in."""
        frozen, top_layer, _ = self.config.freeze_phases
        if epoch < frozen:
            return 0
        return 1 if epoch < frozen + top_layer else 2

    def apply_freeze_schedule(self, epoch: int) -> str:
        """Phase 0: encoder frozen; phase 1: + top LSTM layer (both directions); phase 2: all."""
        self._phase = self.phase_for_epoch(epoch)
        super().apply_freeze_schedule(epoch)  # everything trainable, then freeze per phase
        if self._phase < 2:
            top = f"_l{self.encoder_config.layers - 1}"
            for name, parameter in self.encoder.lstm.named_parameters():
                in_top_layer = name.endswith(top) or name.endswith(top + "_reverse")
                parameter.requires_grad_(self._phase == 1 and in_top_layer)
        self.train(self.training)  # re-apply the encoder's mode for the new phase
        return PHASE_NAMES[self._phase]

    def train(self, mode: bool = True) -> "AdapterLSTM":
        # A fully frozen encoder is a fixed feature extractor: its inter-layer dropout stays off.
        super().train(mode)
        if mode and self._phase == 0:
            self.encoder.eval()
        return self

    def check_trainable(self) -> None:
        """Refuse training without pretrained encoder weights: a frozen random encoder learns nothing."""
        if not self.encoder_is_pretrained:
            raise MoolaError(
                "model adapter_lstm needs a pretrained encoder but none was loaded: run "
                "`dvc repro pretrain_ts2vec` (or `moola pretrain-ts2vec`) to create train.pretrained_encoder, "
                "or choose a model that trains without one (model: enhanced_simple_lstm)"
            )
