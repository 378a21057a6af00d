"""report_state_dict_load: matched / missing / mismatched / unexpected tensors, and what it loads."""

from __future__ import annotations

import torch

from moola.lineage.load_report import LoadReport, compare_state_dicts, report_state_dict_load
from moola.models.encoders import BiLSTMEncoder, EncoderConfig
from moola.models.registry import ModelRegistry

ENCODER = {"hidden": 8, "layers": 2}


def _model(name="enhanced_simple_lstm"):
    return ModelRegistry.create(name, None, encoder=ENCODER, seed=0)


def test_full_match_loads_every_encoder_tensor_and_counts_frozen():
    model = _model()
    source = BiLSTMEncoder(EncoderConfig(**ENCODER)).state_dict()
    report = report_state_dict_load(model, source, source="enc.pt")
    assert len(report.matched) == report.model_tensors == len(source) == 16
    assert report.missing == report.mismatched == report.unexpected == []
    for name, tensor in source.items():
        assert torch.equal(model.state_dict()["encoder." + name], tensor)
    encoder_parameters = sum(p.numel() for p in model.encoder.parameters())
    assert report.frozen_parameters == encoder_parameters  # first phase: loaded encoder frozen
    assert report.total_parameters == sum(p.numel() for p in model.parameters())
    assert "matched 16/16 encoder tensors (100%)" in report.summary_line()


def test_partial_match_loads_only_matching_tensors_and_names_the_rest():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    source = BiLSTMEncoder(EncoderConfig(hidden=8, layers=1)).state_dict()  # layer 1 missing
    source["lstm.weight_hh_l0"] = torch.zeros(32, 4)  # wrong shape
    source["projection.weight"] = torch.zeros(2, 2)  # not in the model
    report = report_state_dict_load(model, source)
    assert len(report.matched) == 7 and report.model_tensors == 16
    assert report.mismatched == [{"name": "encoder.lstm.weight_hh_l0", "model_shape": [32, 8], "file_shape": [32, 4]}]
    assert {"name": "encoder.lstm.weight_ih_l1", "shape": [32, 16]} in report.missing
    assert report.unexpected == [{"name": "projection.weight", "shape": [2, 2]}]
    state = model.state_dict()
    assert torch.equal(state["encoder.lstm.weight_hh_l0"], before["encoder.lstm.weight_hh_l0"])
    assert torch.equal(state["encoder.lstm.weight_ih_l0"], source["lstm.weight_ih_l0"])
    text = report.format()
    assert "mismatched encoder.lstm.weight_hh_l0: model [32, 8] vs file [32, 4]" in text
    assert "unexpected projection.weight: [2, 2]" in text


def test_nothing_matched_leaves_the_model_untouched():
    model = _model("adapter_lstm")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = report_state_dict_load(model, {"something.else": torch.zeros(3)})
    assert report.matched == [] and report.match_fraction == 0.0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_report_round_trips_through_json_form():
    report = compare_state_dicts({"encoder.a": (2,), "head.b": (3,)}, {"a": (2,)}, source="x.pt")
    again = LoadReport.from_dict(report.to_dict())
    assert again == report and report.to_dict()["matched_count"] == 1 and report.model_tensors == 1
