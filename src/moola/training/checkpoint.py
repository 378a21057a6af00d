"""Classifier checkpoints: plain tensors and plain values, loadable with `weights_only=True`.

Format `moola.checkpoint/1` (docs/ARCHITECTURE.md): `format`, `model_name`, `model_config`,
`state_dict`, `scaler` (ohlc_mean, ohlc_std, feats_mean, feats_std, fitted on real train rows),
`class_names`, `encoder_config` (or None), `data` (labeled version and fingerprint, split name
and sha256, synthetic name). Nothing in it is a pickled object, so loading one never runs code,
and it carries its config, so it rebuilds the model alone.
"""

from __future__ import annotations

import os
from typing import Any

from moola.errors import MoolaError
from moola.io import read_torch_file

CHECKPOINT_FORMAT = "moola.checkpoint/1"
REQUIRED_KEYS = ("format", "model_name", "model_config", "state_dict", "scaler", "class_names", "encoder_config", "data")


def build_checkpoint(
    *,
    model_name: str,
    model_config: dict,
    state_dict: dict,
    scaler: dict,
    class_names: list[str],
    encoder_config: dict | None,
    data: dict,
) -> dict:
    """Assemble a checkpoint dict; tensors are detached, copied and moved to the CPU (strides kept,
    so a reloaded model computes with the same memory layout and gives bitwise-equal outputs).

    Args:
        model_name: the ModelRegistry name.
        model_config: the model's config as a plain dict (rebuilds it with ModelRegistry.create).
        state_dict: the model's tensors.
        scaler: `Scaler.to_tensors()`.
        class_names: names in class-index order.
        encoder_config: the encoder's config dict, or None for models without one.
        data: {labeled_version, labeled_fingerprint, split_name, split_sha256, synthetic}.

    Returns:
        The checkpoint dict.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "model_name": model_name,
        "model_config": _plain(model_config),
        "state_dict": {name: tensor.detach().cpu().clone() for name, tensor in state_dict.items()},
        "scaler": {name: tensor.detach().cpu().clone() for name, tensor in scaler.items()},
        "class_names": list(class_names),
        "encoder_config": _plain(encoder_config) if encoder_config is not None else None,
        "data": _plain(data),
    }


def _plain(value: Any) -> Any:
    """Turn tuples into lists and check that only JSON-like values remain (weights_only safe)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoint metadata must be plain values, got {type(value).__name__}")


def save_checkpoint(path: str | os.PathLike, checkpoint: dict) -> None:
    """Write a checkpoint atomically (temporary file, then rename)."""
    import torch

    from moola.io import atomic_file

    with atomic_file(path, "wb") as handle:
        torch.save(checkpoint, handle)


def load_checkpoint(path: str | os.PathLike, expected_model: str | None = None) -> dict:
    """Load and check a classifier checkpoint (weights_only=True, tensors on the CPU).

    Args:
        path: the .pt file.
        expected_model: when given, a checkpoint of another model is refused.

    Returns:
        The checkpoint dict.
    """
    checkpoint = read_torch_file(path, "checkpoint")
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise MoolaError(
            f"checkpoint {path} has format {found!r}, expected {CHECKPOINT_FORMAT!r}: "
            "train it with `moola train` (a TS2Vec encoder goes to train.pretrained_encoder)"
        )
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise MoolaError(f"checkpoint {path} lacks {', '.join(missing)}: retrain it with `moola train`")
    if expected_model is not None and checkpoint["model_name"] != expected_model:
        raise MoolaError(
            f"checkpoint {path} is of model {checkpoint['model_name']!r}, not {expected_model!r}: "
            f"run `moola train --model {expected_model}` or set model: {checkpoint['model_name']}"
        )
    return checkpoint


def rebuild_model(checkpoint: dict) -> Any:
    """Build the checkpoint's model from its config and load its tensors (strictly).

    Returns:
        A torch module in eval mode, or a fitted MiniRocket estimator.
    """
    from moola.models.registry import ModelRegistry

    model = ModelRegistry.create(
        checkpoint["model_name"],
        checkpoint["model_config"],
        encoder=checkpoint["encoder_config"],
        n_classes=len(checkpoint["class_names"]),
    )
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise MoolaError(
            f"checkpoint of {checkpoint['model_name']} does not fit the model it names ({reason[:200]}): "
            "retrain it with `moola train`"
        ) from None
    if hasattr(model, "eval"):
        model.eval()
    return model
