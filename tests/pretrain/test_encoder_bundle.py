"""The encoder file holds one encoder per fold: build, write, read back, and refuse damaged bundles."""

from __future__ import annotations

import copy

import pytest
import torch

from moola.artifacts import encoder as encoder_artifact
from moola.errors import MoolaError

SCALER = {"ohlc_mean": [0.0] * 4, "ohlc_std": [1.0] * 4, "window_transform": "vol_units"}


def _bundle(n_folds: int) -> dict:
    folds = [
        {
            "fold": fold,
            "seed": 10 + fold,
            "state_dict": {"w": torch.full((2, 3), float(fold))},
            "scaler": SCALER,
            "exclusions": {
                "split": "s",
                "fold": fold,
                "n_left_out": fold,
                "n_kept": 5 - fold,
                "rule": "r",
                "span": None,
            },
            "loss_history": [1.5, 1.0 + fold],
        }
        for fold in range(n_folds)
    ]
    return encoder_artifact.build(
        encoder_config={"kind": "bilstm"},
        train_params={"seed": 1},
        unlabeled={"version": "v1"},
        split={"name": "s", "sha256": "ab" * 32},
        folds=folds,
    )


@pytest.mark.parametrize("n_folds", [1, 3])
def test_bundle_round_trips_weights_only_with_every_fold(tmp_path, n_folds):
    doc = _bundle(n_folds)
    encoder_artifact.write(tmp_path / "enc.pt", doc)
    raw = torch.load(tmp_path / "enc.pt", weights_only=True)
    back = encoder_artifact.read(tmp_path / "enc.pt")
    assert raw["n_folds"] == back["n_folds"] == n_folds and back["split"] == {"name": "s", "sha256": "ab" * 32}
    for fold in range(n_folds):
        entry = encoder_artifact.fold_entry(back, fold, "enc.pt")
        assert entry["fold"] == fold and entry["exclusions"]["fold"] == fold
        assert torch.equal(entry["state_dict"]["w"], torch.full((2, 3), float(fold)))
    with pytest.raises(MoolaError, match=f"folds 0..{n_folds - 1} of split s, not fold {n_folds}"):
        encoder_artifact.fold_entry(back, n_folds, "enc.pt")


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda d: d.update(n_folds=3), "holds 2 fold encoder(s) for n_folds 3"),
        (lambda d: d["folds"].reverse(), "its fold 0 is numbered 1"),
        (
            lambda d: d["folds"][1].update(state_dict={"w": [1, 2]}),
            "its fold 1 state_dict entry 'w' is a list, not a tensor",
        ),
        (
            lambda d: d["folds"][1]["scaler"].update(ohlc_std=[0.0] * 4),
            "its fold 1 scaler holds non-finite values or a non-positive std",
        ),
        (lambda d: d["folds"][0].pop("exclusions"), "its fold 0 lacks 'exclusions'"),
        (lambda d: d["folds"].__setitem__(0, "x"), "its fold 0 is a str, not a mapping"),
        (lambda d: d.update(format="moola.ts2vec/1"), "expected 'moola.ts2vec/2'"),
    ],
)
def test_a_damaged_bundle_is_refused_in_one_line(tmp_path, damage, problem):
    doc = copy.deepcopy(_bundle(2))
    damage(doc)
    torch.save(doc, tmp_path / "enc.pt")
    with pytest.raises(MoolaError, match="rebuild it with moola pretrain-ts2vec") as caught:
        encoder_artifact.read(tmp_path / "enc.pt")
    assert problem in str(caught.value) and "\n" not in str(caught.value)
