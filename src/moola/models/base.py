"""The interface every torch classifier shares with training and evaluation: `MoolaModule`.

forward(ohlc (B, T, 4), feats (B, 20)) -> logits (B, n_classes). Models that take the TS2Vec
encoder hold it as `self.encoder` (a `BiLSTMEncoder`, state-dict prefix `encoder.`), report
whether pretrained weights were loaded, and follow a freeze schedule chosen per epoch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from moola.errors import MoolaError
from moola.models.encoders import EncoderConfig
from moola.params import from_mapping, require

ENCODER_PREFIX = "encoder."


class MoolaModule(nn.Module):
    """Base of the torch classifiers: OHLC windows + 20 features -> class logits.

    Subclasses set `self.config` (a dataclass with `to_dict()`) and `self.n_classes`, and hold
    the shared encoder as `self.encoder` when they take a pretrained one.
    """

    config: Any
    n_classes: int

    def forward(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """(B, T, 4) OHLC and (B, 20) features -> (B, n_classes) logits."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training hooks

    def apply_freeze_schedule(self, epoch: int) -> str:
        """Set `requires_grad` for `epoch` (0-based) and return the active phase's name."""
        for parameter in self.parameters():
            parameter.requires_grad_(True)
        return "all trainable"

    def check_trainable(self) -> None:
        """Raise a MoolaError when the model cannot be trained as built (default: it can)."""

    def parameter_count(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those with requires_grad)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def frozen_parameter_count(self) -> int:
        """Number of parameters that the current freeze phase keeps fixed."""
        return sum(p.numel() for p in self.parameters() if not p.requires_grad)

    @torch.no_grad()
    def predict_proba(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities (B, n_classes) in eval mode; the previous mode is restored."""
        was_training = self.training
        self.eval()
        try:
            return torch.softmax(self(ohlc, feats), dim=1)
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ pretrained encoder

    @property
    def has_encoder(self) -> bool:
        return isinstance(getattr(self, "encoder", None), nn.Module)

    @property
    def encoder_is_pretrained(self) -> bool:
        """True once pretrained encoder tensors were loaded (`load_encoder_state` or `mark_encoder_pretrained`)."""
        return bool(getattr(self, "_encoder_pretrained", False))

    def mark_encoder_pretrained(self) -> None:
        """Record that `self.encoder` holds pretrained weights loaded by other code (freeze schedules read it)."""
        if not self.has_encoder:
            raise MoolaError(f"{type(self).__name__} has no encoder to mark as pretrained")
        self._encoder_pretrained = True

    def set_encoder_trainable(self, trainable: bool) -> None:
        """Freeze (False) or unfreeze (True) every encoder parameter."""
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(trainable)


def pool_bidirectional(sequence: torch.Tensor, hidden: int) -> torch.Tensor:
    """Summarise a BiLSTM output over time: (B, T, 2H) -> (B, 6H).

    Concatenates the forward direction's last state, the backward direction's last state (at
    t = 0), the mean over time and the max over time. The end states carry the most recent
    bars, which matter most for what comes after the window; mean and max pooling see the
    whole window, and max pooling is how TS2Vec forms its instance-level representation, so
    a pretrained encoder is read the way it was trained.
    """
    forward_last = sequence[:, -1, :hidden]  # (B, H)
    backward_last = sequence[:, 0, hidden:]  # (B, H)
    return torch.cat([forward_last, backward_last, sequence.mean(dim=1), sequence.amax(dim=1)], dim=1)


def resolve_encoder_config(encoder: Any = None) -> EncoderConfig:
    """The BiLSTM encoder config from the `encoder:` params section, a dict, or an EncoderConfig.

    Args:
        encoder: None (defaults), the `encoder:` section / a checkpoint's `encoder_config`
            dict (unknown keys fail), or an `EncoderConfig`.

    Returns:
        A checked EncoderConfig of kind "bilstm" over the 4 OHLC channels.
    """
    if isinstance(encoder, EncoderConfig):
        config = encoder
    else:
        config = from_mapping(EncoderConfig, encoder, "encoder")
    require(config.kind == "bilstm", "encoder.kind", f"the classifiers hold a bilstm encoder, got {config.kind!r}")
    require(config.input_dim == 4, "encoder.input_dim", f"must be 4 (OHLC), got {config.input_dim}")
    require(1 <= config.hidden <= 1024, "encoder.hidden", f"must be in 1..1024, got {config.hidden}")
    require(1 <= config.layers <= 8, "encoder.layers", f"must be in 1..8, got {config.layers}")
    require(0.0 <= config.dropout < 1.0, "encoder.dropout", f"must be in [0, 1), got {config.dropout}")
    return config
