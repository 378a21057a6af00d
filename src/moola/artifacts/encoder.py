"""TS2Vec encoder artifact: `artifacts/ts2vec/<name>.pt` (format `moola.ts2vec/1`).

A dict loadable with `torch.load(..., weights_only=True)`: `state_dict` (encoder only, CPU
tensors, the encoder's own keys such as `lstm.weight_ih_l0`; a classifier holding the encoder
as `.encoder` loads them under the prefix `encoder.`), `encoder_config`, `train_params`,
`scaler` (`ohlc_mean`, `ohlc_std` per channel, fitted on the kept unlabeled windows, and
`window_transform`), `unlabeled` {version, fingerprint}, `exclusions` {split, n_left_out,
n_kept, rule, span}, `loss_history` (mean loss per epoch).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from moola import io
from moola.artifacts import common, torch_schema
from moola.errors import MoolaError

FORMAT = "moola.ts2vec/1"
FIELDS = {
    "format": str,
    "state_dict": dict,
    "encoder_config": dict,
    "train_params": dict,
    "scaler": dict,
    "unlabeled": dict,
    "exclusions": dict,
    "loss_history": list,
}


def build(
    *,
    state_dict: dict[str, Any],
    encoder_config: dict[str, Any],
    train_params: dict[str, Any],
    scaler: dict[str, Any],
    unlabeled: dict[str, Any],
    exclusions: dict[str, Any],
    loss_history: list[float],
) -> dict[str, Any]:
    """Assemble the encoder file's dict (see the module docstring for each entry)."""
    return {
        "format": FORMAT,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in state_dict.items()},
        "encoder_config": dict(encoder_config),
        "train_params": dict(train_params),
        "scaler": dict(scaler),
        "unlabeled": dict(unlabeled),
        "exclusions": dict(exclusions),
        "loss_history": [float(v) for v in loss_history],
    }


def problems(doc: Any) -> list[str]:
    """Structural faults of an encoder dict (empty list = sound)."""
    problem = torch_schema.document_problem(doc, FORMAT, FIELDS, ("encoder_config", "train_params", "unlabeled", "exclusions"))
    if problem is None:
        mean, std = doc["scaler"].get("ohlc_mean"), doc["scaler"].get("ohlc_std")
        if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == 4):
            problem = "its scaler lacks 4 ohlc_mean and 4 ohlc_std values"
        elif not all(isinstance(v, (int, float)) and v == v for v in mean + std) or min(std) <= 0:
            problem = "its scaler holds non-finite values or a non-positive std"
    return [problem] if problem else []


def read(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a TS2Vec encoder file (weights_only=True, tensors on the CPU).

    Raises:
        MoolaError: the file is missing, not weights-only, or not of this format and structure.
    """
    file = Path(path)
    if not file.is_file():
        raise MoolaError(f"TS2Vec encoder not found: {common.shown(file)} (run `moola pretrain-ts2vec` or dvc repro pretrain_ts2vec)")
    doc = io.read_torch_file(file, "TS2Vec encoder")
    faults = problems(doc)
    if faults:
        raise MoolaError(f"TS2Vec encoder {common.shown(file)}: {faults[0]}: rebuild it with moola pretrain-ts2vec")
    return doc


def write(path: str | os.PathLike, doc: dict[str, Any]) -> None:
    """Write an encoder file atomically."""
    faults = problems(doc)
    if faults:  # a bug in the caller, never a user error
        raise ValueError(f"refusing to write an unsound encoder file: {faults[0]}")
    io.write_torch_file(path, doc)
