"""Fold i's classifier loads fold i's TS2Vec encoder, and only an encoder pretrained for its split."""

from __future__ import annotations

import json

import pytest
import torch

from moola import cli
from moola.artifacts import encoder as encoder_artifact
from moola.data.registry import DataRegistry
from moola.errors import MoolaError
from moola.models.registry import ModelRegistry
from moola.training.setup import load_pretrained

ENCODER = "artifacts/ts2vec/encoder_v1.pt"
MODEL = "enhanced_simple_lstm"


def _split_identity(fold: int) -> dict:
    data = DataRegistry().load_labeled(version="v1", split_name="fwd_chain_v3", fold=fold)
    return {"name": data.split["name"], "sha256": data.audit["split_sha256"], "n_folds": data.audit["n_folds"]}


def _model(encoder_config: dict):
    spec = ModelRegistry.spec(MODEL)
    return ModelRegistry.create(MODEL, encoder=encoder_config, n_classes=3, seed=0), spec


@pytest.mark.parametrize("fold", [0, 1])
def test_fold_i_loads_encoder_i(built_project, fold):
    checkpoint = encoder_artifact.read(built_project / ENCODER)
    assert checkpoint["n_folds"] == 2
    model, spec = _model(checkpoint["encoder_config"])
    report, path = load_pretrained(model, spec, MODEL, {}, ENCODER, fold, _split_identity(fold))
    assert report.fold == fold and report.match_fraction == 1.0 and path.endswith("encoder_v1.pt")
    assert f"pretrained load from {ENCODER} (encoder of fold_{fold}): matched 8/8" in report.format()
    state = model.state_dict()
    mine, other = checkpoint["folds"][fold]["state_dict"], checkpoint["folds"][1 - fold]["state_dict"]
    assert all(torch.equal(state[f"encoder.{name}"], tensor) for name, tensor in mine.items())
    assert not all(torch.equal(state[f"encoder.{name}"], tensor) for name, tensor in other.items())


def test_an_encoder_pretrained_for_another_split_is_refused(built_project):
    checkpoint = encoder_artifact.read(built_project / ENCODER)
    model, spec = _model(checkpoint["encoder_config"])
    identity = {**_split_identity(0), "sha256": "0" * 64, "name": "other_split"}
    with pytest.raises(
        MoolaError, match="but this run trains on split other_split .*set pretrain_ts2vec.split: other_split"
    ):
        load_pretrained(model, spec, MODEL, {}, ENCODER, 0, identity)


def test_train_stage_records_each_folds_load(built_project, capsys):
    assert cli.main(["train"]) == 0
    out = capsys.readouterr().out
    assert f"pretrained load from {ENCODER} (encoder of fold_0)" in out and "(encoder of fold_1)" in out
    record = json.loads((built_project / f"artifacts/models/{MODEL}/record.json").read_text())
    loads = record["load_report"]["folds"]
    assert [load["fold"] for load in loads] == [0, 1] and all(load["match_fraction"] == 1.0 for load in loads)
    assert record["load_report"]["fold"] == 1  # the top-level figures stay the last fold's
