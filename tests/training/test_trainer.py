"""The train stage and the Trainer: outputs, determinism, resume after a kill, early stopping."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch

from moola import cli
from moola.data.registry import DataRegistry
from moola.models.registry import ModelRegistry
from moola.training import loop
from moola.training.config import TrainConfig
from moola.training.scaler import fit_scaler
from moola.training.trainer import Trainer

PROGRESS = re.compile(
    r"^epoch \d+/\d+ \| train_loss \d+\.\d{4} \| val_loss \d+\.\d{4} \| val_acc \d\.\d{3} \| "
    r"grad_norm enc (\d+\.\d{3}|-) head \d+\.\d{3} \| phase .+$"
)


def _train_outputs(root, model="enhanced_simple_lstm"):
    return {
        "checkpoint": torch.load(root / f"artifacts/models/{model}/fold_0.pt", weights_only=True),
        "record": json.loads((root / f"artifacts/models/{model}/record.json").read_text()),
        "metrics": (root / "metrics/train.json").read_bytes(),
    }


def test_stage_writes_checkpoint_record_metrics_and_curves(built_project, capsys):
    assert cli.main(["train"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    # two folds of three epochs (the tiny project fits no ablation: tests/conftest.py tiny_params)
    assert len(lines) == 2 * 3 and all(PROGRESS.match(line) for line in lines)
    assert "==== fold 1/2 of split fwd_chain_v3" in out and "==== fold 2/2" in out
    assert "moola run " in out and "(synthetic 0 ✓)" in out and "guard      ✓" in out
    outputs = _train_outputs(built_project)
    checkpoint, record = outputs["checkpoint"], outputs["record"]
    assert checkpoint["run_id"] == record["run_id"]
    assert checkpoint["class_names"] == ["down", "neutral", "up"]
    assert checkpoint["encoder_config"]["hidden"] == 8
    for key in ("load_report", "data", "training", "guards", "git", "device", "params", "inputs"):
        assert key in record
    assert record["load_report"]["matched_count"] == record["load_report"]["model_tensors"] == 8
    assert record["training"]["epochs_run"] == 3 and len(record["training"]["history"]) == 3
    metrics = json.loads(outputs["metrics"])
    assert set(metrics) == {"fold_0", "fold_1", "mean"} and 0 <= metrics["fold_1"]["val"]["accuracy"] <= 1
    assert set(metrics["fold_0"]) >= {"best_epoch", "best_val_loss", "train", "val"}
    assert record["n_folds"] == 2 and set(record["checkpoint_sha256"]) == {"fold_0.pt", "fold_1.pt"}
    rows = list(csv.DictReader((built_project / "plots/train/curves.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 1, 2, 3] and [int(r["fold"]) for r in rows] == [
        0,
        0,
        0,
        1,
        1,
        1,
    ]
    assert set(rows[0]) == {"epoch", "train_loss", "val_loss", "fold"}
    assert (built_project / "plots/train/curves.png").read_bytes()[:4] == b"\x89PNG"
    assert not list((built_project / "artifacts/models").glob(".*.state"))  # removed at the end


def test_scaler_in_checkpoint_is_fitted_on_real_train_rows(built_project):
    assert cli.main(["train"]) == 0
    scaler = _train_outputs(built_project)["checkpoint"]["scaler"]
    data = DataRegistry().load_labeled(include_synthetic=True, synthetic_version="v1_temporal_q0.9_r0.5", fold=0)
    real = ~data.train.is_synthetic
    assert real.sum() < len(real)  # the synthetic rows were there and were left out
    expected = fit_scaler(data.train.ohlc[real], data.train.feats[real], np.zeros(real.sum(), dtype=bool))
    assert np.array_equal(scaler["ohlc_mean"].numpy(), expected.ohlc_mean)
    assert np.array_equal(scaler["feats_std"].numpy(), expected.feats_std)


def test_two_cpu_runs_give_identical_metrics_and_weights(built_project):
    assert cli.main(["train"]) == 0
    first = _train_outputs(built_project)
    assert cli.main(["train"]) == 0
    second = _train_outputs(built_project)
    assert first["metrics"] == second["metrics"]
    for name, tensor in first["checkpoint"]["state_dict"].items():
        assert torch.equal(tensor, second["checkpoint"]["state_dict"][name]), name


def test_minirocket_writes_the_same_files_with_one_curve_row(built_project):
    assert cli.main(["train", "--model", "minirocket"]) == 0
    rows = list(csv.DictReader((built_project / "plots/train/curves.csv").open()))
    assert len(rows) == 2  # one row per fold
    record = json.loads((built_project / "artifacts/models/minirocket/record.json").read_text())
    assert record["training"]["epochs_run"] == 1 and record["load_report"] is None


class _Killed(Exception):
    pass


def _trainer(data, state_path, log):
    model = ModelRegistry.create("enhanced_simple_lstm", None, encoder={"hidden": 8, "layers": 1}, seed=3)
    return Trainer(
        model, data, config=TrainConfig(epochs=4, batch_size=16, seed=3, patience=10), state_path=state_path, log=log
    )


def test_resumed_run_equals_an_uninterrupted_one(built_project):
    data = DataRegistry().load_labeled(include_synthetic=True, synthetic_version="v1_temporal_q0.9_r0.5")
    uninterrupted = _trainer(data, None, lambda line: None)
    reference = uninterrupted.train()

    state_path = built_project / "artifacts/models/.enhanced_simple_lstm.fold_0.state"

    def kill_after_second_epoch(line):
        if line.startswith("epoch 2/"):
            raise _Killed  # as if the process died right after the epoch's state was saved

    with pytest.raises(_Killed):
        _trainer(data, state_path, kill_after_second_epoch).train()
    assert torch.load(state_path, weights_only=True)["epoch"] == 2

    seen = []
    resumed_trainer = _trainer(data, state_path, seen.append)
    resumed = resumed_trainer.train()
    assert any(line.startswith("resuming from") for line in seen)
    assert [line for line in seen if line.startswith("epoch ")][0].startswith("epoch 3/4")
    assert resumed.metrics() == reference.metrics()
    assert resumed.history == reference.history
    for name, tensor in reference.checkpoint["state_dict"].items():
        assert torch.equal(tensor, resumed.checkpoint["state_dict"][name]), name
    resumed_trainer.discard_state()
    assert not state_path.exists()


def test_state_of_other_params_is_ignored(built_project):
    data = DataRegistry().load_labeled()
    state_path = built_project / "artifacts/models/.state"

    def kill_after_first_epoch(line):
        if line.startswith("epoch 1/"):
            raise _Killed

    with pytest.raises(_Killed):
        _trainer(data, state_path, kill_after_first_epoch).train()
    seen = []
    other = _trainer(data, state_path, seen.append)
    other.config.lr = 1e-3  # different params: the state must not be used
    other.train()
    assert any("belongs to other params or data" in line for line in seen)


def test_early_stopping_keeps_the_best_epoch(built_project, monkeypatch):
    val_losses = iter([1.0, 0.8, 0.9, 0.95, 0.99, 1.2, 1.3])
    real_evaluate = loop.evaluate_loss
    monkeypatch.setattr(
        loop, "evaluate_loss", lambda *args, **kwargs: (next(val_losses), real_evaluate(*args, **kwargs)[1])
    )
    data = DataRegistry().load_labeled()
    model = ModelRegistry.create("simple_lstm", {"hidden": 8}, seed=0)
    trainer = Trainer(model, data, config=TrainConfig(epochs=7, batch_size=16, patience=3), log=lambda line: None)
    outcome = trainer._train_torch(*_arrays(data), max_epochs=7)
    assert outcome.best_epoch == 2 and outcome.epochs_run == 5 and outcome.stopped_early
    assert outcome.best_val_loss == 0.8


def _arrays(data):
    scaler = fit_scaler(data.train.ohlc, data.train.feats, data.train.is_synthetic)
    return (
        (*scaler.transform(data.train.ohlc, data.train.feats), data.train.y),
        (*scaler.transform(data.val.ohlc, data.val.feats), data.val.y),
    )
