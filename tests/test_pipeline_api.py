"""The Python API exactly as the original prototype's integration test used it."""

from __future__ import annotations

import json

from moola import cli
from moola.data.registry import DataRegistry
from moola.models.registry import ModelRegistry
from moola.training.trainer import Trainer


def test_registry_model_trainer_fit_writes_manifest_with_accuracy(tiny_project):
    for command in (["build-windows"], ["make-splits"]):
        assert cli.main(command) == 0

    data = DataRegistry().load_labeled()
    model = ModelRegistry.create("enhanced_simple_lstm")
    run_dir = tiny_project / "artifacts" / "runs" / "api"
    Trainer(model, data, run_dir).fit(epochs=2)

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert 0.0 <= manifest["metrics"]["accuracy"] <= 1.0
    assert manifest["metrics"]["accuracy"] == manifest["metrics"]["test"]["accuracy"]
    assert manifest["training"]["epochs_run"] == 2
    assert manifest["model"]["name"] == "enhanced_simple_lstm"
    assert (run_dir / "model.pt").is_file()
