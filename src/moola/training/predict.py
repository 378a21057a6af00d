"""Predictions of a trained run on every fold: the out-of-fold table and its baselines.

Each fold's checkpoint (hash-checked against the training record) predicts that fold's val and
test windows on the CPU (bitwise repeatable); the majority and logistic baselines are fitted on
the same fold's real train rows. A CPCV split tests each window in several folds: its table is
its first backtest path (the fold `paths[0][g]` supplies group g), so every window counts once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moola.errors import MoolaError


@dataclass
class FoldPredictions:
    """Everything the evaluation needs, gathered over the folds."""

    oof: Any  # significance.OutOfFold of the test windows
    baselines: dict[str, np.ndarray]  # name -> (n, K) on the same rows
    val_labels: np.ndarray
    val_proba: np.ndarray
    train_labels: np.ndarray  # real train labels of the last fold (the classic single-split baseline)
    data: Any  # the last fold's LabeledData
    per_fold: dict[str, dict] = field(default_factory=dict)  # fold_<i> -> {"test": {...}, "val": {...}}


def predict_folds(
    root: Path,
    name: str,
    record: dict,
    registry: Any,
    *,
    logistic_C: float,
    seed: int,
    ece_bins: int,
    ablation: str | None = None,
) -> FoldPredictions:
    """Predict every fold of a trained run and fit the baselines fold by fold.

    Args:
        root: the project root.
        name: the model name.
        record: the verified training record (`moola.artifacts.checkpoint.read_record`).
        registry: a DataRegistry.
        logistic_C: the logistic baseline's inverse L2 strength.
        seed: base.seed (the baselines' solver seed).
        ece_bins: ECE bins of the per-fold packs.
        ablation: None for the model's own checkpoints, else the ablation whose fits to predict
            (`artifacts/models/<model>/ablation_<name>/`, listed in the record's ablations).
    """
    from moola.artifacts import checkpoint as checkpoint_artifact
    from moola.artifacts import layout
    from moola.artifacts import split as split_artifact
    from moola.evaluation import metrics, significance
    from moola.paths import relative_to_root
    from moola.training.checkpoint import rebuild_model
    from moola.training.loop import predict_proba
    from moola.training.scaler import Scaler

    ids, folds, labels, probas, majority, logistic = [], [], [], [], [], []
    val_labels, val_probas, per_fold = [], [], {}
    data = None
    for fold in range(record["n_folds"]):
        path = layout.checkpoint_file(root, name, fold, ablation)
        checkpoint = checkpoint_artifact.read(path, expected_model=name)
        if (checkpoint.get("run_id"), checkpoint.get("fold"), checkpoint.get("ablation")) != (
            record["run_id"],
            fold,
            ablation,
        ):
            fit = f"the {ablation} ablation of " if ablation else ""
            raise MoolaError(
                f"{relative_to_root(path)} is not fold {fold} of {fit}run {record['run_id']}: rerun `moola train "
                f"--model {name}`"
            )
        trained_on = checkpoint["data"]
        data = registry.load_labeled(
            version=trained_on["labeled_version"], split_name=trained_on["split_name"], fold=fold
        )
        if (data.audit["labeled_fingerprint"], data.audit["split_sha256"]) != (
            trained_on["labeled_fingerprint"],
            trained_on["split_sha256"],
        ):
            raise MoolaError(
                f"{relative_to_root(path)} was trained on other contents of labeled {trained_on['labeled_version']} "
                "/ split "
                f"{trained_on['split_name']} than are on disk now: rerun `moola train --model {name}` (or `dvc repro`)"
            )
        checkpoint_artifact.require_classes(checkpoint, data.class_names, path)
        model, scaler = rebuild_model(checkpoint), Scaler.from_tensors(checkpoint["scaler"])
        tested = np.isin(data.test.index, split_artifact.tested_rows(data.split, fold))
        test_proba = predict_proba(model, *scaler.transform(data.test.ohlc[tested], data.test.feats[tested]), "cpu")
        val_proba = (
            predict_proba(model, *scaler.transform(data.val.ohlc, data.val.feats), "cpu") if len(data.val) else None
        )
        real = ~np.asarray(data.train.is_synthetic)
        train_y, train_x = np.asarray(data.train.y)[real], np.asarray(data.train.feats)[real]
        k = len(data.class_names)
        ids += np.asarray(data.test.ids)[tested].tolist()
        folds.append(np.full(int(tested.sum()), fold))
        labels.append(np.asarray(data.test.y)[tested])
        probas.append(test_proba)
        majority.append(significance.majority_baseline_proba(train_y, int(tested.sum()), k))
        logistic.append(
            significance.logistic_baseline_proba(
                train_x, train_y, np.asarray(data.test.feats)[tested], k, C=logistic_C, seed=seed
            )
        )
        per_fold[f"fold_{fold}"] = {
            "test": {
                "n": int(tested.sum()),
                "accuracy": metrics.accuracy(labels[-1], test_proba) if tested.any() else 0.0,
            }
        }
        if val_proba is not None:
            val_labels.append(np.asarray(data.val.y))
            val_probas.append(val_proba)
            per_fold[f"fold_{fold}"]["val"] = {
                "n": len(data.val),
                "accuracy": metrics.accuracy(val_labels[-1], val_proba),
            }
    class_names = data.class_names
    oof = significance.OutOfFold(
        np.asarray(ids), np.concatenate(folds), np.concatenate(labels), np.concatenate(probas), class_names
    )
    return FoldPredictions(
        oof=oof,
        baselines={"majority": np.concatenate(majority), "logistic": np.concatenate(logistic)},
        val_labels=np.concatenate(val_labels) if val_labels else np.zeros(0, dtype=np.int64),
        val_proba=np.concatenate(val_probas) if val_probas else np.zeros((0, len(class_names))),
        train_labels=np.asarray(data.train.y)[~np.asarray(data.train.is_synthetic)],
        data=data,
        per_fold=per_fold,
    )


def predict_ablations(
    root: Path, name: str, record: dict, registry: Any, settings: Any, seed: int, oof: Any
) -> tuple[dict, dict, dict]:
    """Predict each fitted ablation of evaluate.ablations and compare it with the model on the same windows.

    Returns:
        (metrics block, sentences, {table file name: DataFrame}) (docs/METRICS.md, "Ablations").
    """
    from moola.artifacts import checkpoint as checkpoint_artifact
    from moola.artifacts import layout
    from moola.evaluation.ablation import ablation_report, requested_reasons

    reasons = requested_reasons(checkpoint_artifact.ablations(record), settings.ablations, record["run_id"])
    found = {
        ablation: predict_folds(
            root,
            name,
            record,
            registry,
            logistic_C=settings.logistic_C,
            seed=seed,
            ece_bins=settings.ece_bins,
            ablation=ablation,
        ).oof
        for ablation, reason in reasons.items()
        if reason is None
    }
    numbers, sentences = ablation_report(
        oof,
        found,
        reasons,
        alpha=settings.alpha,
        n_resamples=settings.n_resamples,
        seed=seed,
        ece_bins=settings.ece_bins,
    )
    return (
        numbers,
        sentences,
        {layout.ablation_predictions(ablation): table.to_frame() for ablation, table in found.items()},
    )
