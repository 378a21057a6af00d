"""The TS2Vec encoder checkpoint: its layout, and loading it back (never executes code).

Layout (format `moola.ts2vec/1`, a dict loadable with `torch.load(..., weights_only=True)`):
`state_dict` (encoder only, CPU tensors, the encoder's own keys such as `lstm.weight_ih_l0`;
a classifier holding the encoder as `.encoder` loads them under the prefix `encoder.`),
`encoder_config` (EncoderConfig.to_dict()), `train_params`, `scaler` (`ohlc_mean`, `ohlc_std`
per channel, fitted on the kept unlabeled windows), `unlabeled` {version, fingerprint},
`exclusions` {split, n_left_out, n_kept, rule, span}, `loss_history` (mean loss per epoch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from moola.errors import MoolaError
from moola.io import read_torch_file
from moola.models.encoders import EncoderConfig, build_encoder

CHECKPOINT_FORMAT = "moola.ts2vec/1"
REQUIRED_KEYS = (
    "format",
    "state_dict",
    "encoder_config",
    "train_params",
    "scaler",
    "unlabeled",
    "exclusions",
    "loss_history",
)


def make_encoder_checkpoint(
    *,
    state_dict: dict[str, torch.Tensor],
    encoder_config: EncoderConfig,
    train_params: dict[str, Any],
    scaler: dict[str, list[float]],
    unlabeled: dict[str, Any],
    exclusions: dict[str, Any],
    loss_history: list[float],
) -> dict[str, Any]:
    """Assemble the checkpoint dict (see the module docstring for each entry)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in state_dict.items()},
        "encoder_config": encoder_config.to_dict(),
        "train_params": dict(train_params),
        "scaler": dict(scaler),
        "unlabeled": dict(unlabeled),
        "exclusions": dict(exclusions),
        "loss_history": [float(v) for v in loss_history],
    }


def load_encoder_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a TS2Vec encoder checkpoint.

    Args:
        path: the `.pt` file written by `moola pretrain-ts2vec`.

    Returns:
        The checkpoint dict, tensors on CPU.

    Raises:
        MoolaError: the file is missing, not a weights-only checkpoint, or not this format.
    """
    file = Path(path)
    if not file.is_file():
        raise MoolaError(f"TS2Vec encoder not found: {file} (run `moola pretrain-ts2vec` or dvc repro pretrain_ts2vec)")
    checkpoint = read_torch_file(file, "TS2Vec encoder")
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise MoolaError(f"{file} is not a {CHECKPOINT_FORMAT} encoder checkpoint (format {found!r}): rebuild it")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise MoolaError(f"{file} lacks the key {missing[0]!r} of a {CHECKPOINT_FORMAT} checkpoint: rebuild it")
    return checkpoint


def encoder_from_checkpoint(checkpoint: dict[str, Any]) -> nn.Module:
    """Rebuild the pretrained encoder from a loaded checkpoint (all tensors must match, strict)."""
    config = EncoderConfig(**checkpoint["encoder_config"])
    encoder = build_encoder(config)
    encoder.load_state_dict(checkpoint["state_dict"], strict=True)
    return encoder
