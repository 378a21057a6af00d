"""TS2Vec encoder artifact: `artifacts/ts2vec/<name>.pt` (format `moola.ts2vec/2`), one encoder per fold.

A dict loadable with `torch.load(..., weights_only=True)`: `n_folds`, `split` {name, sha256} (the
split whose folds the encoders follow), `encoder_config`, `train_params`, `unlabeled` {version,
fingerprint}, and `folds`, one entry per fold in fold order: `fold`, `seed`, `state_dict`
(encoder only, CPU tensors, the encoder's own keys such as `lstm.weight_ih_l0`; a classifier
holding the encoder as `.encoder` loads them under the prefix `encoder.`), `scaler` (`ohlc_mean`,
`ohlc_std` per channel, fitted on that fold's kept unlabeled windows, and `window_transform`),
`exclusions` {split, fold, n_left_out, n_kept, rule, span} and `loss_history` (mean loss per
epoch). Fold i's encoder never saw fold i's val/test time (`moola.pretrain.exclusions`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from moola import io
from moola.artifacts import common, torch_schema
from moola.errors import MoolaError

FORMAT = "moola.ts2vec/2"
FIELDS = {
    "format": str,
    "n_folds": int,
    "split": dict,
    "encoder_config": dict,
    "train_params": dict,
    "unlabeled": dict,
    "folds": list,
}
FOLD_FIELDS = {"fold": int, "seed": int, "state_dict": dict, "scaler": dict, "exclusions": dict, "loss_history": list}


def build(
    *,
    encoder_config: dict[str, Any],
    train_params: dict[str, Any],
    unlabeled: dict[str, Any],
    split: dict[str, Any],
    folds: list[dict[str, Any]],
) -> dict[str, Any]:
    """Assemble the encoder file's dict (see the module docstring for each entry); `folds` in fold order.

    The plain entries are rebuilt in one JSON round trip, so the file's bytes depend on their
    values only, never on which objects they share (a resumed run writes what a fresh one does).
    """
    plain = json.loads(
        json.dumps(
            {
                "split": split,
                "encoder_config": encoder_config,
                "train_params": train_params,
                "unlabeled": unlabeled,
                "folds": [{name: entry[name] for name in FOLD_FIELDS if name != "state_dict"} for entry in folds],
            }
        )
    )
    return {
        "format": FORMAT,
        "n_folds": len(folds),
        **{name: plain[name] for name in ("split", "encoder_config", "train_params", "unlabeled")},
        "folds": [
            {**fields, "state_dict": {name: tensor.detach().cpu() for name, tensor in entry["state_dict"].items()}}
            for fields, entry in zip(plain["folds"], folds, strict=False)
        ],
    }


def _scaler_problem(scaler: dict[str, Any], what: str) -> str | None:
    mean, std = scaler.get("ohlc_mean"), scaler.get("ohlc_std")
    if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == 4):
        return f"{what} scaler lacks 4 ohlc_mean and 4 ohlc_std values"
    if not all(isinstance(v, (int, float)) and v == v for v in mean + std) or min(std) <= 0:
        return f"{what} scaler holds non-finite values or a non-positive std"
    return None


def _fold_problem(entry: Any, index: int) -> str | None:
    what = f"its fold {index}"
    problem = torch_schema.document_problem(entry, None, FOLD_FIELDS, ("exclusions", "loss_history"), what)
    if problem is None and entry["fold"] != index:
        problem = f"{what} is numbered {entry['fold']}"
    return problem or _scaler_problem(entry["scaler"], what)


def problems(doc: Any) -> list[str]:
    """Structural faults of an encoder dict (empty list = sound)."""
    problem = torch_schema.document_problem(
        doc, FORMAT, FIELDS, ("split", "encoder_config", "train_params", "unlabeled")
    )
    if problem is None and not (doc["n_folds"] >= 1 and len(doc["folds"]) == doc["n_folds"]):
        problem = f"it holds {len(doc['folds'])} fold encoder(s) for n_folds {doc['n_folds']}"
    if problem is None:
        problem = next((p for p in (_fold_problem(entry, i) for i, entry in enumerate(doc["folds"])) if p), None)
    return [problem] if problem else []


def fold_entry(doc: dict[str, Any], fold: int, where: str) -> dict[str, Any]:
    """Fold `fold`'s encoder entry of a read encoder file (a MoolaError naming `where` when it has none)."""
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < doc["n_folds"]:
        raise MoolaError(
            f"TS2Vec encoder {where} holds encoders for folds 0..{doc['n_folds'] - 1} of split "
            f"{doc['split'].get('name')}, not fold {fold!r}: rerun moola pretrain-ts2vec with the training split"
        )
    return doc["folds"][fold]


def read(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a TS2Vec encoder file (weights_only=True, tensors on the CPU).

    Raises:
        MoolaError: the file is missing, not weights-only, or not of this format and structure.
    """
    file = Path(path)
    if not file.is_file():
        raise MoolaError(
            f"TS2Vec encoder not found: {common.shown(file)} (run `moola pretrain-ts2vec` or dvc repro pretrain_ts2vec)"
        )
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
