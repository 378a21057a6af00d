"""Ablation fits: the same folds without the encoder / without synthetic rows, listed, paired and audited."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from moola import cli, io


def _set_params(root, **sections):
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section, values in sections.items():
        if isinstance(values, dict):
            params[section].update(values)
        else:
            params[section] = values
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def built_project(built_project):
    """The tiny project with the repository's default ablations (tiny_params turns them off)."""
    _set_params(built_project, evaluate={"ablations": ["pretraining", "augmentation"]})
    return built_project


def _record(root, model="enhanced_simple_lstm"):
    return json.loads((root / "artifacts/models" / model / "record.json").read_text())


def test_ablation_fits_are_listed_and_lack_what_they_remove(built_project, capsys):
    assert cli.main(["train"]) == 0
    out = capsys.readouterr().out
    assert "==== fold 2/2 of split fwd_chain_v3, ablation: no pretraining" in out
    assert "==== fold 1/2 of split fwd_chain_v3, ablation: no synthetic rows" in out
    record = _record(built_project)
    folder = built_project / "artifacts/models/enhanced_simple_lstm"
    ablations = record["ablations"]
    assert set(ablations) == {"pretraining", "augmentation"} and all(a["applies"] == 1 for a in ablations.values())
    for name, entry in ablations.items():
        assert set(entry["checkpoint_sha256"]) == {f"ablation_{name}/fold_0.pt", f"ablation_{name}/fold_1.pt"}
        for file_name, sha256 in entry["checkpoint_sha256"].items():
            assert io.sha256_file(folder / file_name) == sha256
    # the model itself loads the encoder and trains on synthetic rows
    assert record["load_report"] is not None and record["model"]["pretrained"]
    assert all(fold["data"]["n_synthetic_train"] > 0 for fold in record["folds"])
    # without pretraining: no encoder loaded, synthetic rows kept; without augmentation: the reverse
    pretraining, augmentation = ablations["pretraining"]["folds"], ablations["augmentation"]["folds"]
    assert all(f["load_report"] is None and f["data"]["n_synthetic_train"] > 0 for f in pretraining)
    assert all(any("ablation: no pretrained encoder" in claim for claim in f["guards"]) for f in pretraining)
    assert all(f["load_report"] is not None and f["data"]["n_synthetic_train"] == 0 for f in augmentation)
    import torch

    doc = torch.load(folder / "ablation_augmentation/fold_0.pt", weights_only=True)
    assert doc["ablation"] == "augmentation" and doc["data"]["synthetic"] is None and doc["run_id"] == record["run_id"]


def test_evaluate_pairs_each_ablation_on_the_same_windows_and_audit_rederives_it(built_project, capsys):
    assert cli.main(["train"]) == 0
    assert cli.main(["evaluate"]) == 0
    out = capsys.readouterr().out
    assert "ablation pretraining" in out and "ablation augmentation" in out and "labels for 10" in out
    metrics = json.loads((built_project / "metrics/eval.json").read_text())
    for name in ("pretraining", "augmentation"):
        block = metrics["ablation"][name]
        assert set(block) == {
            "applies",
            "n",
            "difference",
            "ci_low",
            "ci_high",
            "p_value",
            "adds",
            "detectable_effect",
            "windows_for_10_points",
        }
        assert block["ci_low"] <= block["difference"] <= block["ci_high"] and block["adds"] in (0, 1)
        assert block["n"] == metrics["test"]["n"]
    latest = built_project / "artifacts/runs/latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    main = pd.read_parquet(latest / "predictions.parquet")
    for name in ("pretraining", "augmentation"):
        file_name = f"predictions_ablation_{name}.parquet"
        table = pd.read_parquet(latest / file_name)
        assert table["window_id"].tolist() == main["window_id"].tolist()
        assert manifest["outputs"][file_name] == io.sha256_file(latest / file_name)
        assert name in manifest["verdicts"]["ablation"]
    assert cli.main(["audit", str(latest / "manifest.json")]) == 0
    audited = capsys.readouterr().out
    assert "synthetic rows" in audited
    # one flipped prediction in a stored ablation table: the audit refuses the run
    run_dir = built_project / "artifacts/runs" / manifest["run_id"]
    table = pd.read_parquet(run_dir / "predictions_ablation_pretraining.parquet")
    probabilities = [c for c in table.columns if c.startswith("proba_")]
    table.loc[0, probabilities] = table.loc[0, probabilities].to_numpy()[::-1]
    table.to_parquet(run_dir / "predictions_ablation_pretraining.parquet", index=False)
    assert cli.main(["audit", str(run_dir / "manifest.json")]) != 0
    assert "predictions_ablation_pretraining.parquet" in capsys.readouterr().out


def test_empty_ablations_skip_the_fits(built_project, capsys):
    _set_params(built_project, evaluate={"ablations": []})
    assert cli.main(["train"]) == 0
    assert "ablation" not in capsys.readouterr().out
    assert _record(built_project)["ablations"] == {}
    assert not list((built_project / "artifacts/models/enhanced_simple_lstm").glob("ablation_*"))
    assert cli.main(["evaluate"]) == 0
    assert "ablation" not in json.loads((built_project / "metrics/eval.json").read_text())


def test_an_ablation_that_does_not_apply_is_reported(built_project, capsys):
    _set_params(built_project, model="simple_lstm", train={"augment": False})
    assert cli.main(["train"]) == 0
    out = capsys.readouterr().out
    assert "ablation pretraining: not applicable (model simple_lstm loads no pretrained encoder)" in out
    assert "ablation augmentation: not applicable (train.augment is false)" in out
    assert not list((built_project / "artifacts/models/simple_lstm").glob("ablation_*"))
    assert cli.main(["evaluate"]) == 0
    out = capsys.readouterr().out
    assert "synthetic rows: not applicable (train.augment is false)" in out
    metrics = json.loads((built_project / "metrics/eval.json").read_text())
    assert metrics["ablation"] == {"pretraining": {"applies": 0}, "augmentation": {"applies": 0}}
    latest = built_project / "artifacts/runs/latest"
    assert not list(latest.glob("predictions_ablation_*"))
    assert cli.main(["audit", str(latest / "manifest.json")]) == 0


def test_adapter_lstm_ablation_keeps_the_random_encoder_by_a_recorded_bypass(built_project):
    from moola.data.registry import DataRegistry
    from moola.errors import MoolaError
    from moola.models.registry import ModelRegistry
    from moola.training.trainer import Trainer

    data = DataRegistry().load_labeled(version="v1", split_name="fwd_chain_v3", fold=0)
    model = ModelRegistry.create(
        "adapter_lstm", {}, encoder={"hidden": 8, "layers": 1}, n_classes=len(data.class_names), seed=0
    )
    with pytest.raises(MoolaError, match="needs a pretrained encoder"):
        Trainer(model, data, model_name="adapter_lstm").check()
    claims = Trainer(model, data, model_name="adapter_lstm", ablation="pretraining").check()
    assert any("required encoder left at its seeded random init" in claim for claim in claims)


def test_unknown_ablation_is_refused_in_one_line(built_project, capsys):
    _set_params(built_project, evaluate={"ablations": ["pretraining", "dropout"]})
    assert cli.main(["train"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "evaluate.ablations" in err and "'dropout'" in err
    assert not (built_project / "artifacts/models/enhanced_simple_lstm").exists()


def test_evaluate_refuses_an_ablation_the_run_did_not_fit(built_project, capsys):
    _set_params(built_project, evaluate={"ablations": []})
    assert cli.main(["train"]) == 0
    _set_params(built_project, evaluate={"ablations": ["augmentation"]})
    assert cli.main(["evaluate"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "without the augmentation ablation" in err
    assert not (built_project / "metrics/eval.json").exists()
