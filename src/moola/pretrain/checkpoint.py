"""Rebuilding a pretrained TS2Vec encoder from its file (the file itself: `moola.artifacts.encoder`)."""

from __future__ import annotations

from typing import Any

from torch import nn

from moola.artifacts.encoder import FORMAT as CHECKPOINT_FORMAT  # noqa: F401
from moola.artifacts.encoder import build, fold_entry
from moola.artifacts.encoder import read as load_encoder_checkpoint  # noqa: F401
from moola.models.encoders import EncoderConfig, build_encoder


def make_encoder_checkpoint(*, encoder_config: EncoderConfig, **fields: Any) -> dict[str, Any]:
    """`moola.artifacts.encoder.build` with the encoder's config object."""
    return build(encoder_config=encoder_config.to_dict(), **fields)


def encoder_from_checkpoint(checkpoint: dict[str, Any], fold: int) -> nn.Module:
    """Rebuild fold `fold`'s pretrained encoder from a loaded checkpoint (all tensors must match, strict)."""
    encoder = build_encoder(EncoderConfig(**checkpoint["encoder_config"]))
    encoder.load_state_dict(fold_entry(checkpoint, fold, "checkpoint")["state_dict"], strict=True)
    return encoder
