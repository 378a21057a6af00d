"""The model zoo: registry, the three torch models, freeze schedules, encoder keys, legacy models, `moola models`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
import yaml

from moola.cli import main
from moola.errors import MoolaError
from moola.lineage.load_report import report_state_dict_load
from moola.models.adapter_lstm import AdapterLSTM, AdapterLSTMConfig
from moola.models.base import MoolaModule
from moola.models.encoders import BiLSTMEncoder, EncoderConfig
from moola.models.enhanced_simple_lstm import EnhancedSimpleLSTM, EnhancedSimpleLSTMConfig
from moola.models.registry import ACTIVE, LEGACY, LEGACY_README, ModelRegistry, ModelSpec, build_model

TORCH_MODELS = ["simple_lstm", "enhanced_simple_lstm", "adapter_lstm"]
SMALL_ENCODER = {"hidden": 8, "layers": 2, "dropout": 0.0}
SRC = Path(__file__).resolve().parents[2] / "src" / "moola"


def batch(size: int = 6, length: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ohlc = torch.randn(size, length, 4, generator=generator)  # standardised, as the trainer feeds it
    feats = torch.randn(size, 20, generator=generator)
    labels = torch.arange(size) % 3
    return ohlc, feats, labels


def lstm_parameters(input_size: int, hidden: int, directions: int = 1) -> int:
    """nn.LSTM parameters of one layer: 4 gates x (input + recurrent weights + 2 biases), per direction."""
    return directions * 4 * (hidden * input_size + hidden * hidden + 2 * hidden)


def pretend_pretrained(model: MoolaModule, seed: int = 1) -> None:
    """Load a standalone encoder's weights, as the trainer does with a TS2Vec checkpoint."""
    torch.manual_seed(seed)
    report = report_state_dict_load(model, BiLSTMEncoder(model.encoder_config).state_dict())
    assert report.match_fraction == 1.0


# ---------------------------------------------------------------- registry


def test_registry_lists_four_active_models_with_roles_and_four_legacy():
    assert ModelRegistry.names() == ["simple_lstm", "enhanced_simple_lstm", "adapter_lstm", "minirocket"]
    assert ModelRegistry.legacy_names() == ["tcn", "transformer_lstm", "rwkv_ts", "cnn_transformer"]
    for name in ModelRegistry.names():
        spec = ModelRegistry.spec(name)
        assert spec.role and "\n" not in spec.role
        assert spec.pretrain_use in ("none", "optional", "required")
    assert [n for n in ACTIVE if ACTIVE[n].requires_pretrained] == ["adapter_lstm"]
    assert ModelRegistry.spec("minirocket").kind == "minirocket"
    assert ModelRegistry.spec("enhanced_simple_lstm").config_cls is EnhancedSimpleLSTMConfig


@pytest.mark.parametrize("name", list(LEGACY))
def test_a_legacy_name_points_to_the_extras_readme(name):
    with pytest.raises(MoolaError, match="models_extras/README.md") as info:
        ModelRegistry.create(name)
    assert "retired" in str(info.value) and "enhanced_simple_lstm" in str(info.value)


def test_an_unknown_name_lists_the_available_models():
    with pytest.raises(MoolaError) as info:
        ModelRegistry.create("lstm9000")
    message = str(info.value)
    assert "'lstm9000'" in message
    assert all(name in message for name in ModelRegistry.names())


@pytest.mark.parametrize(
    "name, section, pattern",
    [
        ("simple_lstm", {"hiden": 16}, r"unknown params key simple_lstm\.hiden"),
        ("adapter_lstm", {"freeze_phases": [3, 2]}, r"adapter_lstm\.freeze_phases"),
        ("enhanced_simple_lstm", {"dropout": 1.5}, r"enhanced_simple_lstm\.dropout"),
        ("minirocket", {"num_features": 50}, r"minirocket\.num_features"),
        ("minirocket", {"classifier": "svm"}, r"minirocket\.classifier"),
    ],
)
def test_bad_config_keys_and_values_fail_with_the_key_name(name, section, pattern):
    with pytest.raises(MoolaError, match=pattern):
        ModelRegistry.create(name, section)


def test_an_encoder_section_with_an_unknown_key_or_kind_fails():
    with pytest.raises(MoolaError, match=r"unknown params key encoder\.width"):
        ModelRegistry.create("enhanced_simple_lstm", encoder={"width": 8})
    with pytest.raises(MoolaError, match=r"encoder\.kind"):
        ModelRegistry.create("adapter_lstm", encoder={"kind": "dilated_cnn"})


def test_create_with_a_seed_is_repeatable_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = ModelRegistry.create("enhanced_simple_lstm", encoder=SMALL_ENCODER, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    second = ModelRegistry.create("enhanced_simple_lstm", encoder=SMALL_ENCODER, seed=7)
    other = ModelRegistry.create("enhanced_simple_lstm", encoder=SMALL_ENCODER, seed=8)
    for key, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[key]), key
    assert not torch.equal(first.head[1].weight, other.head[1].weight)


# ---------------------------------------------------------------- torch models


@pytest.mark.parametrize("name", TORCH_MODELS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_forward_maps_ohlc_and_features_to_logits(name, n_classes):
    model = ModelRegistry.create(name, encoder=SMALL_ENCODER, n_classes=n_classes, seed=0)
    ohlc, feats, _ = batch(size=5, length=17)
    logits = model(ohlc, feats)
    assert logits.shape == (5, n_classes)
    assert torch.isfinite(logits).all()
    proba = model.predict_proba(ohlc, feats)
    assert torch.allclose(proba.sum(1), torch.ones(5))
    assert isinstance(model, MoolaModule) and model.config.to_dict()


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_gradient_steps_reduce_the_loss_on_a_tiny_batch(name):
    model = ModelRegistry.create(name, {"dropout": 0.0}, encoder=SMALL_ENCODER, seed=0)
    model.apply_freeze_schedule(0)
    ohlc, feats, labels = batch()
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
    model.eval()
    with torch.no_grad():
        initial = loss_fn(model(ohlc, feats), labels).item()
    model.train()
    for _ in range(25):
        optimizer.zero_grad()
        loss_fn(model(ohlc, feats), labels).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        final = loss_fn(model(ohlc, feats), labels).item()
    assert final < 0.8 * initial


def test_parameter_counts_follow_the_architecture():
    simple = ModelRegistry.create("simple_lstm", {"hidden": 32})
    # The LSTMs read 8 values per bar (OHLC and their changes); the head sees 3 pooled states.
    assert simple.parameter_count() == lstm_parameters(8, 32) + 3 * 32 * 3 + 3  # 5,667

    encoder = {"hidden": 64, "layers": 2}
    encoder_size = lstm_parameters(8, 64, 2) + lstm_parameters(128, 64, 2)
    assert encoder_size == 137_216
    section = {"feature_hidden": 32, "fusion_hidden": 32}
    enhanced = ModelRegistry.create("enhanced_simple_lstm", section, encoder=encoder)
    feature_mlp = 20 * 32 + 32
    head = (6 * 64 + 32) * 32 + 32 + 32 * 3 + 3
    assert enhanced.parameter_count() == encoder_size + feature_mlp + head == 151_331

    adapter = ModelRegistry.create("adapter_lstm", {"bottleneck": 16}, encoder=encoder)
    adapter_size = 2 * 128 + (128 * 16 + 16) + (16 * 128 + 128)  # norm, down, up
    assert adapter.parameter_count() == encoder_size + adapter_size + 6 * 64 * 3 + 3


@pytest.mark.parametrize("name", ["enhanced_simple_lstm", "adapter_lstm"])
def test_encoder_tensors_are_a_standalone_bilstm_encoder_prefixed_encoder(name):
    model = ModelRegistry.create(name, encoder=SMALL_ENCODER)
    standalone = BiLSTMEncoder(EncoderConfig(**SMALL_ENCODER)).state_dict()
    own = {k: v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    assert set(own) == {"encoder." + k for k in standalone}
    assert all(own["encoder." + k].shape == v.shape for k, v in standalone.items())
    assert isinstance(model.encoder, BiLSTMEncoder)


def test_loading_a_pretrained_encoder_copies_every_tensor_and_reports_it():
    model = ModelRegistry.create("enhanced_simple_lstm", encoder=SMALL_ENCODER, seed=0)
    assert not model.encoder_is_pretrained
    torch.manual_seed(5)
    pretrained = BiLSTMEncoder(EncoderConfig(**SMALL_ENCODER)).state_dict()
    report = report_state_dict_load(model, {**pretrained, "projection.weight": torch.zeros(2)})
    assert report.match_fraction == 1.0 and [u["name"] for u in report.unexpected] == ["projection.weight"]
    assert not report.missing
    assert model.encoder_is_pretrained
    for key, tensor in pretrained.items():
        assert torch.equal(model.state_dict()["encoder." + key], tensor)


def test_an_encoder_of_another_size_loads_nothing():
    model = ModelRegistry.create("adapter_lstm", encoder=SMALL_ENCODER, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    wider = BiLSTMEncoder(EncoderConfig(hidden=16, layers=2)).state_dict()
    report = report_state_dict_load(model, wider)
    assert report.match_fraction == 0.0 and report.mismatched and not model.encoder_is_pretrained
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def trainable_encoder_names(model: MoolaModule) -> set[str]:
    return {name for name, p in model.encoder.lstm.named_parameters() if p.requires_grad}


def test_adapter_freeze_schedule_unfreezes_the_top_layer_then_everything():
    model = AdapterLSTM(AdapterLSTMConfig(freeze_phases=[2, 1, 1]), EncoderConfig(**SMALL_ENCODER))
    encoder_total = sum(p.numel() for p in model.encoder.parameters())
    top_layer = {n for n, _ in model.encoder.lstm.named_parameters() if n.endswith(("_l1", "_l1_reverse"))}
    assert len(top_layer) == 8  # 4 tensors x 2 directions

    for epoch in (0, 1):
        assert model.apply_freeze_schedule(epoch).startswith("phase 0")
        assert trainable_encoder_names(model) == set()
        assert model.frozen_parameter_count() == encoder_total
        assert all(p.requires_grad for p in model.adapter.parameters())
        assert all(p.requires_grad for p in model.head.parameters())
        model.train()
        assert model.training and not model.encoder.training  # frozen encoder: dropout off

    assert model.apply_freeze_schedule(2).startswith("phase 1")
    assert trainable_encoder_names(model) == top_layer
    top_size = sum(p.numel() for n, p in model.encoder.lstm.named_parameters() if n in top_layer)
    assert model.frozen_parameter_count() == encoder_total - top_size
    model.train()
    assert model.encoder.training

    for epoch in (3, 50):
        assert model.apply_freeze_schedule(epoch).startswith("phase 2")
        assert model.frozen_parameter_count() == 0


def test_frozen_encoder_gets_no_gradient_in_phase_zero():
    model = AdapterLSTM(AdapterLSTMConfig(), EncoderConfig(**SMALL_ENCODER))
    model.apply_freeze_schedule(0)
    ohlc, feats, labels = batch()
    torch.nn.functional.cross_entropy(model(ohlc, feats), labels).backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.head[1].weight.grad is not None and model.adapter.down.weight.grad is not None


def test_adapter_lstm_refuses_training_without_a_pretrained_encoder():
    model = ModelRegistry.create("adapter_lstm", encoder=SMALL_ENCODER)  # builds without weights
    with pytest.raises(MoolaError, match="pretrained encoder") as info:
        model.check_trainable()
    assert "pretrain-ts2vec" in str(info.value)
    pretend_pretrained(model)
    model.check_trainable()
    ModelRegistry.create("enhanced_simple_lstm", encoder=SMALL_ENCODER).check_trainable()


def test_enhanced_freezes_only_a_pretrained_encoder_and_only_for_its_first_epochs():
    model = EnhancedSimpleLSTM(EnhancedSimpleLSTMConfig(freeze_encoder_epochs=2), EncoderConfig(**SMALL_ENCODER))
    assert model.apply_freeze_schedule(0) == "all trainable"  # a random encoder is never frozen
    assert model.frozen_parameter_count() == 0
    pretend_pretrained(model)
    encoder_total = sum(p.numel() for p in model.encoder.parameters())
    for epoch in (0, 1):
        assert "frozen" in model.apply_freeze_schedule(epoch)
        assert model.frozen_parameter_count() == encoder_total
        assert all(p.requires_grad for p in model.head.parameters())
    assert model.apply_freeze_schedule(2) == "all trainable"
    assert model.frozen_parameter_count() == 0


def test_simple_lstm_ignores_the_features():
    model = ModelRegistry.create("simple_lstm", seed=0).eval()
    ohlc, feats, _ = batch()
    assert torch.equal(model(ohlc, feats), model(ohlc, torch.zeros_like(feats)))


# ---------------------------------------------------------------- legacy models


def legacy_spec(name: str) -> ModelSpec:
    module, class_name, config_class_name = {
        "tcn": ("tcn", "TCN", "TCNConfig"),
        "transformer_lstm": ("transformer_lstm", "TransformerLSTM", "TransformerLSTMConfig"),
        "rwkv_ts": ("rwkv_ts", "RWKVTimeSeries", "RWKVConfig"),
        "cnn_transformer": ("cnn_transformer", "CNNTransformer", "CNNTransformerConfig"),
    }[name]
    return ModelSpec(
        name, "legacy", "OHLC", "none", "torch", f"moola.models_extras.{module}", class_name, config_class_name
    )


@pytest.mark.parametrize("name", list(LEGACY))
def test_legacy_models_still_build_and_run_through_a_registry_spec(name):
    # The README's re-enable steps add exactly such a spec to ACTIVE.
    model = build_model(legacy_spec(name), None, n_classes=3, seed=0)
    assert isinstance(model, MoolaModule)
    ohlc, feats, labels = batch(size=3, length=32)
    logits = model(ohlc, feats)
    assert logits.shape == (3, 3) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, labels).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with pytest.raises(MoolaError, match=f"unknown params key {name}"):
        build_model(legacy_spec(name), {"nope": 1})


def test_nothing_outside_models_extras_imports_it():
    offenders = []
    for path in SRC.rglob("*.py"):
        if "models_extras" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any("models_extras" in n for n in names):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
    readme = SRC / "models_extras" / "README.md"
    assert readme.is_file() and LEGACY_README.endswith("models_extras/README.md")
    text = readme.read_text(encoding="utf-8")
    assert all(f"`{name}`" in text for name in LEGACY)
    assert text.count("legacy - builds and runs, not trained by the pipeline") == len(LEGACY)


# ---------------------------------------------------------------- moola models


def test_moola_models_prints_measured_sizes_and_the_legacy_line(tmp_path, capsys):
    params = {"encoder": {"hidden": 8, "layers": 1, "dropout": 0.0}, "simple_lstm": {"hidden": 16}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["models", "--params", str(tmp_path / "params.yaml")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "role", "inputs", "params", "pretrain"]
    for name in ModelRegistry.names():
        row = next(line for line in lines if line.startswith(name + " "))
        model = ModelRegistry.create(name, params.get(name), encoder=params["encoder"])
        if name != "minirocket":
            assert f"{model.parameter_count():,}" in row
        assert row.rstrip().endswith(ModelRegistry.spec(name).pretrain_use)
    assert f"{ModelRegistry.create('simple_lstm', {'hidden': 16}).parameter_count():,}" in out
    assert lines[-1].startswith("legacy") and LEGACY_README in lines[-1]
    assert all(name in lines[-1] for name in LEGACY)


def test_moola_models_reports_a_bad_section_as_one_line(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"adapter_lstm": {"bottleneck": 0}}))
    assert main(["models", "--params", str(tmp_path / "params.yaml")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "adapter_lstm.bottleneck" in err
