"""Every active model through build -> a few Trainer steps -> predict_proba -> save -> load -> same predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moola.data.registry import DataRegistry
from moola.lineage.load_report import read_encoder_checkpoint, report_state_dict_load
from moola.models.registry import ModelRegistry
from moola.training.checkpoint import load_checkpoint, rebuild_model, save_checkpoint
from moola.training.config import TrainConfig
from moola.training.loop import predict_proba
from moola.training.scaler import Scaler
from moola.training.trainer import Trainer

# Tiny per-model settings: the conformance test checks the interface, not accuracy.
TINY_CONFIGS = {
    "simple_lstm": {"hidden": 8},
    "enhanced_simple_lstm": {"feature_hidden": 8, "fusion_hidden": 8},
    "adapter_lstm": {"bottleneck": 4, "freeze_phases": [1, 1, 1]},
    "minirocket": {"num_features": 168, "max_dilations_per_kernel": 4},
}
ENCODER = {"hidden": 8, "layers": 1}
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU"))]


def test_every_active_model_is_covered():
    assert sorted(TINY_CONFIGS) == sorted(ModelRegistry.names())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_build_train_predict_save_load(built_project, name, device):
    data = DataRegistry().load_labeled(include_synthetic=True, synthetic_version="v1_temporal_q0.9_r0.5")
    model = ModelRegistry.create(name, TINY_CONFIGS[name], encoder=ENCODER, seed=0)
    load_report, encoder_path = None, None
    if ModelRegistry.spec(name).uses_encoder:
        encoder_path = built_project / "artifacts" / "ts2vec" / "encoder_v1.pt"
        load_report = report_state_dict_load(model, read_encoder_checkpoint(encoder_path)["folds"][-1]["state_dict"])
    if ModelRegistry.spec(name).kind == "minirocket" and device == "cuda":
        model.to("cuda")
    trainer = Trainer(
        model,
        data,
        config=TrainConfig(epochs=2, batch_size=16, device=device),
        load_report=load_report,
        encoder_path=encoder_path,
        log=lambda line: None,
    )
    result = trainer.train()

    scaler = result.scaler
    ohlc, feats = scaler.transform(data.test.ohlc, data.test.feats)
    proba = predict_proba(model, ohlc, feats, trainer.device)
    assert proba.shape == (len(data.test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-6)

    path = built_project / "artifacts" / "models" / f"{name}.pt"
    save_checkpoint(path, result.checkpoint)
    raw = torch.load(path, map_location="cpu", weights_only=True)  # the contract: no pickled objects
    assert raw["model_name"] == name and all(t.device.type == "cpu" for t in raw["state_dict"].values())

    reloaded = rebuild_model(load_checkpoint(path, expected_model=name))
    reloaded_scaler = Scaler.from_tensors(raw["scaler"])
    ohlc2, feats2 = reloaded_scaler.transform(data.test.ohlc, data.test.feats)
    again = predict_proba(reloaded, ohlc2, feats2, "cpu")
    if device == "cpu":
        np.testing.assert_array_equal(again, proba)
    else:  # saved from a GPU run, loaded on the CPU: same predictions within float tolerance
        np.testing.assert_allclose(again, proba, rtol=0, atol=1e-5)
