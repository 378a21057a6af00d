"""Stage `evaluate`: nested numeric metrics, DVC plot data, PNGs, and clear refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
import yaml

from moola import cli
from moola.evaluation.report import headline_metrics


def _leaves(obj, path=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, f"{path}.{key}")
    else:
        yield path, obj


def test_evaluate_writes_metrics_pack_and_plots(built_project, capsys):
    assert cli.main(["train"]) == 0
    assert cli.main(["evaluate"]) == 0
    out = capsys.readouterr().out
    # a verdict against each baseline, said only as the test allows
    assert "vs majority baseline" in out and "vs logistic baseline" in out
    assert (
        ("beats the majority baseline (p = " in out)
        or ("not distinguishable from the majority baseline (p = " in out)
        or ("not shown to beat the majority baseline (p = " in out)
        or ("collapsed to" in out)
    )
    assert "(within-fold permutation p = " in out and " points or more is seen 80% of the time; " in out
    metrics = json.loads((built_project / "metrics/eval.json").read_text())
    leaves = dict(_leaves(metrics))
    assert all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in leaves.values()), leaves
    for key in ("accuracy", "pr_auc_macro", "brier", "ece", "f1_macro"):
        assert f".test.{key}" in leaves and f".val.{key}" in leaves
        assert metrics["test"][f"{key}_ci_low"] <= metrics["test"][key] <= metrics["test"][f"{key}_ci_high"]
        for baseline in ("majority", "logistic"):
            assert set(metrics[f"vs_{baseline}"][key]) == {"difference", "ci_low", "ci_high", "p_value"}
    assert set(metrics["beats"]) == {"majority", "logistic"} and set(metrics["beats"].values()) <= {0, 1}
    for baseline in ("majority", "logistic"):
        block = metrics[f"vs_{baseline}"]
        assert 0 < block["detectable_effect"] <= 1 and block["windows_for_10_points"] >= 1
    assert 0 < metrics["no_skill"]["p_value"] <= 1 and metrics["no_skill"]["beats"] in (0, 1)
    if metrics["no_skill"]["beats"] == 0:
        assert set(metrics["beats"].values()) == {0}  # no "beats" without skill
    assert 0 < metrics["collapse"]["top_share"] <= 1 and metrics["collapse"]["collapsed"] in (0, 1)
    assert set(metrics["folds"]) == {"fold_0", "fold_1"}  # the tiny project's two walk-forward folds
    assert set(metrics["test"]["f1"]) == {"down", "neutral", "up"}
    n_test = metrics["test"]["n"]
    assert n_test == sum(fold["test"]["n"] for fold in metrics["folds"].values())  # every fold's test windows, once
    headline = json.loads((built_project / "metrics/headline.json").read_text())
    assert headline == headline_metrics(metrics) and headline["acc"] == metrics["test"]["accuracy"]
    stage = yaml.safe_load((Path(__file__).parents[2] / "dvc.yaml").read_text())["stages"]["evaluate"]
    assert [next(iter(entry)) for entry in stage["metrics"]][0] == "metrics/headline.json"  # first in `dvc exp show`
    plots = built_project / "plots/eval"
    confusion = list(csv.DictReader((plots / "confusion.csv").open()))
    assert len(confusion) == n_test
    assert {row["actual"] for row in confusion} <= {"down", "neutral", "up"}
    reliability = list(csv.DictReader((plots / "reliability.csv").open()))
    assert sum(int(row["count"]) for row in reliability) == n_test
    for name in ("confusion.png", "reliability.png", "curves.png", "curves.csv"):
        assert (plots / name).is_file()


def test_evaluate_without_a_trained_model_is_one_line(built_project, capsys):
    assert cli.main(["evaluate", "--model", "simple_lstm"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "training record not found" in err
    assert not (built_project / "metrics/eval.json").exists()


def test_checkpoint_from_another_run_is_refused(built_project, capsys):
    assert cli.main(["train"]) == 0
    path = built_project / "artifacts/models/enhanced_simple_lstm/fold_0.pt"
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["run_id"] = "0" * 16
    torch.save(checkpoint, path)
    assert cli.main(["evaluate"]) == 1
    err = capsys.readouterr().err
    assert "is not the checkpoint" in err and "changed after training" in err
    assert not (built_project / "metrics/eval.json").exists()


def test_checkpoint_with_one_flipped_byte_is_refused(built_project, capsys):
    assert cli.main(["train"]) == 0
    path = built_project / "artifacts/models/enhanced_simple_lstm/fold_0.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the tensor bytes: torch still loads it
    path.write_bytes(bytes(data))
    assert cli.main(["evaluate"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not the checkpoint" in err
    assert not (built_project / "metrics/eval.json").exists() and not (built_project / "artifacts/runs/latest").exists()
