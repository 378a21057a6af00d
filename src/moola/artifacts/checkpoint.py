"""Model checkpoint artifact: `artifacts/models/<model>.pt` and its training record `<model>.json`.

Checkpoint format `moola.checkpoint/1`, loadable with `torch.load(weights_only=True)`: `format`,
`model_name`, `model_config`, `state_dict`, `scaler` (ohlc_mean, ohlc_std, feats_mean,
feats_std, fitted on real train rows), `class_names`, `encoder_config` (or None), `data`
(labeled version and fingerprint, split name and sha256, synthetic name), `run_id`.
Nothing in it is a pickled object, so loading one never runs code, and it carries its config,
so it rebuilds the model alone.

A run trains one checkpoint per fold of its split: `artifacts/models/<model>/fold_<i>.pt`. The
training record (format `moola.training-record/1`, `record.json` in the same folder) holds every
checkpoint's sha256, so `moola evaluate` refuses a checkpoint that is not the one trained. The
ablation fits (`evaluate.ablations`) sit in `ablation_<name>/fold_<i>.pt` and are listed the same
way in the record's `ablations` block.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from moola import io
from moola.artifacts import common, torch_schema
from moola.errors import MoolaError

FORMAT = "moola.checkpoint/1"
RECORD_FORMAT = "moola.training-record/1"
FIELDS = {
    "format": str,
    "model_name": str,
    "model_config": dict,
    "state_dict": dict,
    "scaler": dict,
    "class_names": list,
    "encoder_config": (dict, type(None)),
    "data": dict,
}
SCALER_SHAPES = {"ohlc_mean": (4,), "ohlc_std": (4,), "feats_mean": (20,), "feats_std": (20,)}
RECORD_FIELDS = {
    "format": str,
    "run_id": str,
    "checkpoint_sha256": dict,
    "n_folds": int,
    "model": dict,
    "params": dict,
    "inputs": dict,
    "paths": dict,
    "data": dict,
    "training": dict,
    "metrics": dict,
    "folds": list,
}


def plain(value: Any) -> Any:
    """Turn tuples into lists and check that only JSON-like values remain (weights_only safe)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoint metadata must be plain values, got {type(value).__name__}")


def build(
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
        "format": FORMAT,
        "model_name": model_name,
        "model_config": plain(model_config),
        "state_dict": {name: tensor.detach().cpu().clone() for name, tensor in state_dict.items()},
        "scaler": {name: tensor.detach().cpu().clone() for name, tensor in scaler.items()},
        "class_names": list(class_names),
        "encoder_config": plain(encoder_config) if encoder_config is not None else None,
        "data": plain(data),
    }


def problems(doc: Any) -> list[str]:
    """Structural faults of a checkpoint dict (empty list = sound)."""
    problem = torch_schema.document_problem(doc, FORMAT, FIELDS, ("model_config", "encoder_config", "data"))
    if problem is None:
        names = doc["class_names"]
        if len(names) < 2 or not all(isinstance(n, str) for n in names):
            problem = "its class_names are not a list of two or more names"
    if problem is None:
        scaler = doc["scaler"]
        for name, shape in SCALER_SHAPES.items():
            tensor = scaler.get(name)
            if not torch_schema.is_tensor(tensor) or tuple(tensor.shape) != shape:
                problem = f"its scaler entry {name} is not a tensor of shape {shape}"
                break
            if not bool(tensor.isfinite().all()) or (name.endswith("std") and bool((tensor <= 0).any())):
                problem = f"its scaler entry {name} holds non-finite or non-positive values"
                break
    return [problem] if problem else []


def read(path: str | os.PathLike, expected_model: str | None = None, expected_classes: list[str] | None = None) -> dict:
    """Load and check a classifier checkpoint (weights_only=True, tensors on the CPU).

    Args:
        path: the .pt file.
        expected_model: when given, a checkpoint of another model is refused.
        expected_classes: when given, a checkpoint trained on other class names is refused.

    Returns:
        The checkpoint dict.
    """
    shown = common.shown(Path(path))
    doc = io.read_torch_file(path, "checkpoint")
    faults = problems(doc)
    if faults:
        raise MoolaError(
            f"checkpoint {shown}: {faults[0]}: train it with `moola train` (a TS2Vec encoder goes to "
            "train.pretrained_encoder)"
        )
    if expected_model is not None and doc["model_name"] != expected_model:
        raise MoolaError(
            f"checkpoint {shown} is of model {doc['model_name']!r}, not {expected_model!r}: "
            f"run `moola train --model {expected_model}` or set model: {doc['model_name']}"
        )
    if expected_classes is not None:
        require_classes(doc, expected_classes, path)
    return doc


def require_classes(doc: dict, class_names: list[str], path: str | os.PathLike) -> None:
    """Refuse a checkpoint trained on another class set than the data it is about to see."""
    if list(doc["class_names"]) != list(class_names):
        raise MoolaError(
            f"checkpoint {common.shown(Path(path))} was trained on classes {doc['class_names']} but the data has "
            f"{list(class_names)}: a model cannot be evaluated on another class set; train it on this labeled version"
        )


def write(path: str | os.PathLike, doc: dict) -> str:
    """Write a checkpoint atomically; returns the sha256 of the written file."""
    faults = problems(doc)
    if faults:  # a bug in the caller, never a user error
        raise ValueError(f"refusing to write an unsound checkpoint: {faults[0]}")
    io.write_torch_file(path, doc)
    return io.sha256_file(path)


def record_problems(record: Any) -> list[str]:
    """Structural faults of a training record."""
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return ["it is not a moola training record"]
    problem = torch_schema.typed_fields_problem(record, RECORD_FIELDS, "it")
    return [problem] if problem else []


def read_record(path: Path, folder: Path) -> dict:
    """Read a training record and require that every checkpoint on disk is the one it trained."""
    record = io.read_json(path, "training record")
    faults = record_problems(record)
    if faults:
        raise MoolaError(f"{common.shown(path)}: {faults[0]}: rerun `moola train`")
    expected = {f"fold_{fold}.pt" for fold in range(record["n_folds"])}
    if set(record["checkpoint_sha256"]) != expected:
        raise MoolaError(f"{common.shown(path)} does not record one checkpoint per fold: rerun `moola train`")
    hashes = dict(record["checkpoint_sha256"])
    for name, ablation in sorted(ablations(record).items()):
        fitted = ablation.get("checkpoint_sha256") if ablation.get("applies") else {}
        wanted = (
            {f"ablation_{name}/fold_{fold}.pt" for fold in range(record["n_folds"])}
            if ablation.get("applies")
            else set()
        )
        if not isinstance(fitted, dict) or set(fitted) != wanted:
            raise MoolaError(
                f"{common.shown(path)} does not record one {name} ablation checkpoint per fold: rerun `moola train`"
            )
        hashes.update(fitted)
    for file_name, sha256 in sorted(hashes.items()):
        checkpoint_path = folder / file_name
        if not checkpoint_path.is_file():
            raise MoolaError(f"checkpoint not found: {common.shown(checkpoint_path)}: run `moola train` (or dvc pull)")
        actual = io.sha256_file(checkpoint_path)
        if actual != sha256:
            raise MoolaError(
                f"{common.shown(checkpoint_path)} (sha256 {actual[:12]}) is not the checkpoint {common.shown(path)} "
                "records "
                f"({str(sha256)[:12]}): it was changed after training; restore it (dvc checkout) or retrain"
            )
    return record


def ablations(record: dict) -> dict[str, dict]:
    """The record's ablation fits: {name: {applies, reason, removed, checkpoint_sha256}} ({} before ablations)."""
    found = record.get("ablations") or {}
    if not isinstance(found, dict) or not all(isinstance(entry, dict) for entry in found.values()):
        raise MoolaError(
            "the training record's ablations block is not a mapping of ablation entries: rerun `moola train`"
        )
    return found


def train_metrics(per_fold: list[dict]) -> dict:
    """metrics/train.json from each fold's training metrics (`FoldResult.metrics()`, kept in the training record
    too)."""
    n = len(per_fold)
    return {
        **{f"fold_{fold}": metrics for fold, metrics in enumerate(per_fold)},
        "mean": {
            "val_accuracy": sum(m["val"]["accuracy"] for m in per_fold) / n,
            "train_accuracy": sum(m["train"]["accuracy"] for m in per_fold) / n,
            "epochs_run": sum(m["epochs_run"] for m in per_fold) / n,
        },
    }
