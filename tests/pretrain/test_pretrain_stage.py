"""`moola pretrain-ts2vec` end to end on a tiny project: outputs, loading, determinism, resume, errors."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from pretrain_data import EXPECTED_KEPT, EXPECTED_LEFT_OUT, WINDOW, write_fold_split

from moola import cli
from moola.models.encoders import BiLSTMEncoder, DilatedCNNEncoder, EncoderConfig
from moola.pretrain.checkpoint import (
    CHECKPOINT_FORMAT,
    encoder_from_checkpoint,
    load_encoder_checkpoint,
)

OUTPUT = "artifacts/ts2vec/encoder_v1.pt"
STATE = "artifacts/ts2vec/.encoder_v1.pt.state"
WRITTEN = (OUTPUT, "plots/pretrain/loss.csv", "plots/pretrain/loss.png", "metrics/pretrain.json")


def set_params(root, section="pretrain_ts2vec", **values):
    params = yaml.safe_load((root / "params.yaml").read_text())
    params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def pretrain(*args: str) -> int:
    return cli.main(["pretrain-ts2vec", *args])


def outputs(root) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in WRITTEN}


def test_writes_a_weights_only_checkpoint_with_every_record(pretrain_project):
    set_params(pretrain_project, epochs=2)
    assert pretrain() == 0
    raw = torch.load(pretrain_project / OUTPUT, weights_only=True)
    checkpoint = load_encoder_checkpoint(pretrain_project / OUTPUT)
    assert raw["format"] == checkpoint["format"] == CHECKPOINT_FORMAT
    split_sha256 = hashlib.sha256((pretrain_project / "data/splits/fwd_chain_v3.json").read_bytes()).hexdigest()
    assert checkpoint["n_folds"] == len(checkpoint["folds"]) == 1  # a split of one fold gives one encoder
    assert checkpoint["split"] == {"name": "fwd_chain_v3", "sha256": split_sha256}
    fold = checkpoint["folds"][0]
    assert fold["fold"] == 0 and all(t.device.type == "cpu" for t in fold["state_dict"].values())
    assert checkpoint["encoder_config"] == EncoderConfig(kind="bilstm", input_dim=4, hidden=8, layers=1).to_dict()
    assert fold["exclusions"]["split"] == "fwd_chain_v3" and fold["exclusions"]["fold"] == 0
    assert fold["exclusions"]["n_left_out"] == EXPECTED_LEFT_OUT
    assert fold["exclusions"]["n_kept"] == EXPECTED_KEPT
    meta = json.loads((pretrain_project / "data/unlabeled_windows/v1/meta.json").read_text())
    assert checkpoint["unlabeled"] == {"version": "v1", "fingerprint": meta["fingerprint"]}
    assert len(fold["scaler"]["ohlc_mean"]) == len(fold["scaler"]["ohlc_std"]) == 4
    assert checkpoint["train_params"]["epochs"] == 2 and checkpoint["train_params"]["seed"] == 1337
    assert checkpoint["train_params"]["fold_seeds"] == [fold["seed"]] and fold["seed"] != 1337
    assert len(fold["loss_history"]) == 2
    assert not (pretrain_project / STATE).exists()

    metrics = json.loads((pretrain_project / "metrics/pretrain.json").read_text())
    assert metrics["fold_0"]["windows"] == {"kept": 80, "left_out": 64, "per_epoch": 64}
    assert metrics["n_folds"] == 1 and metrics["windows_available"] == 144 and metrics["fold_0"]["epochs"] == 2
    assert metrics["fold_0"]["loss"]["final"] == pytest.approx(fold["loss_history"][-1], abs=1e-6)
    assert metrics["mean"]["loss"]["final"] == metrics["fold_0"]["loss"]["final"]
    csv = (pretrain_project / "plots/pretrain/loss.csv").read_text().splitlines()
    assert csv[0] == "fold,epoch,loss" and len(csv) == 3
    assert (pretrain_project / "plots/pretrain/loss.png").read_bytes()[:4] == b"\x89PNG"


class HoldsEncoder(torch.nn.Module):
    """Shaped like the classifiers that take a pretrained encoder: `.encoder` plus a head."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.encoder = BiLSTMEncoder(config)
        self.head = torch.nn.Linear(2 * config.hidden, 3)


def test_checkpoint_fills_every_encoder_tensor_of_a_classifier(pretrain_project):
    assert pretrain() == 0
    checkpoint = load_encoder_checkpoint(pretrain_project / OUTPUT)
    state_dict = checkpoint["folds"][0]["state_dict"]
    config = EncoderConfig(**checkpoint["encoder_config"])
    encoder = BiLSTMEncoder(config)
    encoder.load_state_dict(state_dict, strict=True)
    assert set(state_dict) == set(encoder.state_dict())
    assert "lstm.weight_ih_l0" in state_dict

    model = HoldsEncoder(config)
    prefixed = {f"encoder.{name}": tensor for name, tensor in state_dict.items()}
    result = model.load_state_dict(prefixed, strict=False)
    assert result.unexpected_keys == [] and set(result.missing_keys) == {"head.weight", "head.bias"}
    for name, tensor in state_dict.items():
        assert torch.equal(model.encoder.state_dict()[name], tensor)
    assert isinstance(encoder_from_checkpoint(checkpoint, 0), BiLSTMEncoder)


def test_checkpoint_fills_every_encoder_tensor_of_enhanced_simple_lstm(pretrain_project):
    from moola.models.registry import ModelRegistry

    assert pretrain() == 0
    checkpoint = load_encoder_checkpoint(pretrain_project / OUTPUT)
    model = ModelRegistry.create("enhanced_simple_lstm", encoder=checkpoint["encoder_config"], seed=0)
    encoder_keys = {name for name in model.state_dict() if name.startswith("encoder.")}
    prefixed = {f"encoder.{name}": tensor for name, tensor in checkpoint["folds"][0]["state_dict"].items()}
    assert set(prefixed) == encoder_keys  # 100% of the encoder's tensors, nothing else
    result = model.load_state_dict(prefixed, strict=False)
    assert result.unexpected_keys == [] and not any(key.startswith("encoder.") for key in result.missing_keys)
    for name, tensor in prefixed.items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_two_runs_give_byte_identical_outputs(pretrain_project):
    assert pretrain() == 0
    first = outputs(pretrain_project)
    assert pretrain() == 0
    assert outputs(pretrain_project) == first


def kill_after_saving_state(monkeypatch, saves: int = 1):
    """Make the stage die (as on Ctrl-C) right after it saves its `saves`-th epoch state; returns the undo."""
    from moola.artifacts import resume

    save_state = resume.save
    done = []

    def save_then_die(*args):
        save_state(*args)
        done.append(1)
        if len(done) == saves:
            raise KeyboardInterrupt

    monkeypatch.setattr(resume, "save", save_then_die)
    return lambda: monkeypatch.setattr(resume, "save", save_state)


def test_a_killed_run_resumes_to_the_same_result(pretrain_project, monkeypatch, capsys):
    set_params(pretrain_project, epochs=2)
    assert pretrain() == 0
    uninterrupted = outputs(pretrain_project)
    uninterrupted_state = torch.load(pretrain_project / OUTPUT, weights_only=True)["folds"][0]["state_dict"]
    for name in WRITTEN:
        (pretrain_project / name).unlink()

    revive = kill_after_saving_state(monkeypatch)
    assert pretrain() == 130
    assert (pretrain_project / STATE).exists()
    assert not any((pretrain_project / name).exists() for name in WRITTEN)
    revive()
    capsys.readouterr()

    assert pretrain() == 0
    assert "resuming from .encoder_v1.pt.state after epoch 1/2" in capsys.readouterr().out
    resumed_state = torch.load(pretrain_project / OUTPUT, weights_only=True)["folds"][0]["state_dict"]
    assert resumed_state.keys() == uninterrupted_state.keys()
    for name, tensor in uninterrupted_state.items():
        assert torch.equal(resumed_state[name], tensor), name
    assert outputs(pretrain_project) == uninterrupted
    assert not (pretrain_project / STATE).exists()


def test_a_saved_state_from_other_params_is_not_resumed(pretrain_project, monkeypatch, capsys):
    set_params(pretrain_project, epochs=2, lr=0.001)
    revive = kill_after_saving_state(monkeypatch)
    assert pretrain() == 130  # leaves the lr=0.001 run's state behind
    revive()
    set_params(pretrain_project, epochs=2, lr=0.002)
    capsys.readouterr()
    assert pretrain() == 0
    assert "belongs to other params or data; starting fresh" in capsys.readouterr().out
    restarted = outputs(pretrain_project)
    assert pretrain() == 0  # a fresh lr=0.002 run, no state left
    assert outputs(pretrain_project) == restarted


def test_each_fold_gets_its_own_encoder_that_left_out_its_own_span(pretrain_project, capsys):
    import pandas as pd

    from moola.pretrain.exclusions import fold_exclusions

    data = pretrain_project / "data"
    split = write_fold_split(data, "walk2", "walk_forward")
    set_params(pretrain_project, split="walk2", epochs=2)
    assert pretrain() == 0
    out = capsys.readouterr().out
    checkpoint = load_encoder_checkpoint(pretrain_project / OUTPUT)
    assert checkpoint["n_folds"] == 2 and checkpoint["split"]["name"] == "walk2"
    expected = fold_exclusions(
        split,
        pd.read_parquet(data / "labeled_windows/v1/windows.parquet"),
        pd.read_parquet(data / "unlabeled_windows/v1/windows.parquet"),
        pd.Timedelta("5D"),
    )
    assert [fold["exclusions"] for fold in checkpoint["folds"]] == [record for _mask, record in expected]
    first, second = checkpoint["folds"]
    assert first["exclusions"]["span"] != second["exclusions"]["span"] and first["seed"] != second["seed"]
    assert first["scaler"] != second["scaler"]  # fitted on each fold's own kept windows
    assert any(not torch.equal(first["state_dict"][name], second["state_dict"][name]) for name in first["state_dict"])
    for fold in (0, 1):
        assert f"pretrain-ts2vec: fold {fold}: {expected[fold][1]['n_left_out']} windows left out" in out
    metrics = json.loads((pretrain_project / "metrics/pretrain.json").read_text())
    assert metrics["n_folds"] == 2 and metrics["fold_1"]["windows"]["kept"] == expected[1][1]["n_kept"]
    finals = [metrics[f"fold_{fold}"]["loss"]["final"] for fold in (0, 1)]
    assert metrics["mean"]["loss"]["final"] == pytest.approx(sum(finals) / 2, abs=1e-6)
    assert metrics["mean"]["loss"]["final_min"] == min(finals) and metrics["mean"]["loss"]["final_max"] == max(finals)
    rows = (pretrain_project / "plots/pretrain/loss.csv").read_text().splitlines()
    assert rows[1:] == [
        f"{fold},{epoch},{checkpoint['folds'][fold]['loss_history'][epoch - 1]:.6f}"
        for fold in (0, 1)
        for epoch in (1, 2)
    ]


def test_a_run_killed_in_a_later_fold_resumes_at_that_fold_and_epoch(pretrain_project, monkeypatch, capsys):
    write_fold_split(pretrain_project / "data", "walk2", "walk_forward")
    set_params(pretrain_project, split="walk2", epochs=2)
    assert pretrain() == 0
    uninterrupted = outputs(pretrain_project)
    for name in WRITTEN:
        (pretrain_project / name).unlink()
    revive = kill_after_saving_state(monkeypatch, saves=3)  # fold 0 done, fold 1 after its first epoch
    assert pretrain() == 130
    revive()
    capsys.readouterr()
    assert pretrain() == 0
    out = capsys.readouterr().out
    assert "resuming from .encoder_v1.pt.state after epoch 1/2 of fold 1" in out
    assert "fold 0: epoch" not in out and out.count("fold 1: epoch") == 1  # only the epoch left is trained
    assert outputs(pretrain_project) == uninterrupted


def test_dilated_cnn_encoder_is_selectable(pretrain_project):
    set_params(pretrain_project, encoder="dilated_cnn", cnn_hidden=8, cnn_blocks=2, cnn_output_dim=12)
    assert pretrain() == 0
    checkpoint = load_encoder_checkpoint(pretrain_project / OUTPUT)
    assert checkpoint["encoder_config"]["kind"] == "dilated_cnn"
    encoder = encoder_from_checkpoint(checkpoint, 0)
    assert isinstance(encoder, DilatedCNNEncoder)
    assert encoder(torch.zeros(2, WINDOW, 4)).shape == (2, WINDOW, 12)


def test_command_line_names_override_params(pretrain_project):
    assert (
        pretrain(
            "--unlabeled", "unlabeled_windows/v1", "--output", "artifacts/ts2vec/enc.pt", "--split", "fwd_chain_v3"
        )
        == 0
    )
    checkpoint = load_encoder_checkpoint(pretrain_project / "artifacts/ts2vec/enc.pt")
    assert checkpoint["train_params"]["unlabeled_version"] == "v1"
    assert checkpoint["train_params"]["output"] == "artifacts/ts2vec/enc.pt"
    assert not (pretrain_project / OUTPUT).exists()


@pytest.mark.parametrize(
    "output",
    [
        "data/labeled_windows/v1/y.npy",
        "artifacts/models/enhanced_simple_lstm/fold_0.pt",
        "params.yaml",
        "../outside.pt",
        "artifacts/ts2vec/../models/x.pt",
    ],
)
def test_an_output_outside_the_encoder_folder_is_refused(pretrain_project, output, capsys):
    before = {p: p.read_bytes() for p in pretrain_project.rglob("*") if p.is_file()}
    assert pretrain("--output", output) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a TS2Vec encoder is written only under artifacts/ts2vec/" in err
    assert {p: p.read_bytes() for p in pretrain_project.rglob("*") if p.is_file()} == before


def _nan_in_a_kept_window(root):
    path = root / "data/unlabeled_windows/v1/X_ohlc.npy"
    array = np.load(path)
    array[1, 3, 2] = np.nan
    np.save(path, array)


@pytest.mark.parametrize(
    "spoil, message",
    [
        (
            lambda root: (root / "data/splits/fwd_chain_v3.json").unlink(),
            "split file data/splits/fwd_chain_v3.json not found",
        ),
        (lambda root: shutil.rmtree(root / "data/unlabeled_windows"), "run moola build-windows"),
        (
            lambda root: set_params(root, crop_min=WINDOW + 1),
            "pretrain_ts2vec.crop_min = 33 exceeds the window length 32",
        ),
        (lambda root: set_params(root, batch_size=1), "pretrain_ts2vec.batch_size"),
        (lambda root: set_params(root, encoder="transformer"), "pretrain_ts2vec.encoder"),
        (_nan_in_a_kept_window, "window AAA@2001-01-09T00:00:00+00:00 (row 1) holds NaN"),
    ],
    ids=["no-split", "no-unlabeled", "crop-too-long", "batch-of-one", "unknown-encoder", "nan-window"],
)
def test_bad_inputs_fail_in_one_line_and_write_nothing(pretrain_project, capsys, spoil, message):
    spoil(pretrain_project)
    assert pretrain() == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (pretrain_project / "artifacts").exists()
    assert not (pretrain_project / "metrics").exists() and not (pretrain_project / "plots" / "pretrain").exists()
