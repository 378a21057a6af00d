"""Rebuilding a classifier from its checkpoint (the file itself: `moola.artifacts.checkpoint`)."""

from __future__ import annotations

from typing import Any

from moola.artifacts.checkpoint import FORMAT as CHECKPOINT_FORMAT  # noqa: F401
from moola.artifacts.checkpoint import build as build_checkpoint  # noqa: F401
from moola.artifacts.checkpoint import read as load_checkpoint  # noqa: F401
from moola.artifacts.checkpoint import write as save_checkpoint  # noqa: F401
from moola.errors import MoolaError


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
