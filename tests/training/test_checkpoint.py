"""Checkpoints load with weights_only=True; foreign, truncated or pickled files are one-line errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from moola.data.normalise import volatility_scaled
from moola.errors import MoolaError
from moola.models.registry import ModelRegistry
from moola.training.checkpoint import build_checkpoint, load_checkpoint, rebuild_model, save_checkpoint
from moola.training.scaler import Scaler, fit_scaler

ENCODER = {"hidden": 8, "layers": 1}


def _checkpoint(name="simple_lstm"):
    model = ModelRegistry.create(name, None, encoder=ENCODER, seed=0)
    rng = np.random.default_rng(0)
    scaler = fit_scaler(np.exp(rng.normal(0, 0.01, size=(5, 16, 4))), rng.normal(size=(5, 20)), np.zeros(5, dtype=bool))
    encoder = getattr(model, "encoder", None)
    return model, build_checkpoint(
        model_name=name,
        model_config=model.config.to_dict(),
        state_dict=model.state_dict(),
        scaler=scaler.to_tensors(),
        class_names=["down", "neutral", "up"],
        encoder_config=encoder.config.to_dict() if encoder is not None else None,
        data={
            "labeled_version": "v1",
            "labeled_fingerprint": "f",
            "split_name": "s",
            "split_sha256": "h",
            "synthetic": None,
        },
    )


def test_checkpoint_loads_with_weights_only_and_rebuilds_the_same_model(tmp_path):
    model, checkpoint = _checkpoint("enhanced_simple_lstm")
    path = tmp_path / "m.pt"
    save_checkpoint(path, checkpoint)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "moola.checkpoint/1"
    assert set(raw["scaler"]) == {"ohlc_mean", "ohlc_std", "feats_mean", "feats_std"}
    rebuilt = rebuild_model(load_checkpoint(path, expected_model="enhanced_simple_lstm"))
    ohlc, feats = torch.randn(3, 16, 4), torch.randn(3, 20)
    model.eval()
    assert torch.equal(rebuilt(ohlc, feats), model(ohlc, feats))
    assert np.array_equal(Scaler.from_tensors(raw["scaler"]).ohlc_mean, raw["scaler"]["ohlc_mean"].numpy())


def test_same_checkpoint_gives_same_bytes(tmp_path):
    _, checkpoint = _checkpoint()
    save_checkpoint(tmp_path / "a.pt", checkpoint)
    save_checkpoint(tmp_path / "b.pt", checkpoint)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_checkpoint_of_another_model_refused(tmp_path):
    _, checkpoint = _checkpoint("simple_lstm")
    save_checkpoint(tmp_path / "m.pt", checkpoint)
    with pytest.raises(MoolaError, match="is of model 'simple_lstm', not 'adapter_lstm'"):
        load_checkpoint(tmp_path / "m.pt", expected_model="adapter_lstm")


def test_truncated_checkpoint_refused(tmp_path):
    _, checkpoint = _checkpoint()
    save_checkpoint(tmp_path / "m.pt", checkpoint)
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "m.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(MoolaError, match="truncated or not a torch file"):
        load_checkpoint(tmp_path / "m.pt")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoint_with_pickled_object_refused(tmp_path, capsys):
    _, checkpoint = _checkpoint()
    checkpoint["extra"] = _Payload()
    with open(tmp_path / "m.pt", "wb") as handle:
        torch.save(checkpoint, handle, pickle_module=pickle)
    with pytest.raises(MoolaError, match="weights_only=True refuses"):
        load_checkpoint(tmp_path / "m.pt")
    assert "this must never run" not in capsys.readouterr().out


def test_encoder_file_is_not_a_classifier_checkpoint(tmp_path):
    torch.save({"format": "moola.ts2vec/2", "folds": []}, tmp_path / "enc.pt")
    with pytest.raises(MoolaError, match="expected 'moola.checkpoint/1'"):
        load_checkpoint(tmp_path / "enc.pt")


def test_scaler_is_fitted_on_real_rows_only():
    rng = np.random.default_rng(0)
    ohlc = np.exp(np.cumsum(rng.normal(0, 0.01, size=(6, 10, 4)), axis=1))  # positive prices
    feats = rng.normal(size=(6, 20))
    synthetic = np.array([False, False, False, False, True, True])
    ohlc[synthetic] **= 3.0  # synthetic rows far off: they must not move the statistics
    scaler = fit_scaler(ohlc, feats, synthetic)
    expected = volatility_scaled(ohlc[:4]).astype(np.float64).reshape(-1, 4).mean(axis=0)
    np.testing.assert_allclose(scaler.ohlc_mean, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(scaler.feats_std, feats[:4].std(axis=0), rtol=1e-5)
    with pytest.raises(MoolaError, match="no real rows"):
        fit_scaler(ohlc, feats, np.ones(6, dtype=bool))
