"""Stage `evaluate` (`moola evaluate`): metrics pack, plots and the run manifest.

Reads the checkpoint and training record of the selected model (artifacts/models/<model>.*),
predicts val and test on the CPU (a few hundred windows; the CPU keeps the metrics bitwise
repeatable), and writes metrics/eval.json (nested numeric JSON for `dvc metrics diff`),
plots/eval/ (confusion and reliability data and PNGs, the training curves) and the manifest at
artifacts/runs/<run_id>/manifest.json and artifacts/runs/latest/manifest.json.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from moola.errors import MoolaError
from moola.params import require


@dataclass
class EvaluateParams:
    """The `evaluate:` section of params.yaml."""

    ece_bins: int = 10  # equal-width confidence bins for ECE and the reliability diagram / 1..100

    def validate(self) -> None:
        require(1 <= self.ece_bins <= 100, "evaluate.ece_bins", f"must be in 1..100, got {self.ece_bins}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model whose checkpoint to evaluate (overrides the top-level `model:` key)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from moola import io
    from moola.artifacts import checkpoint as checkpoint_artifact, layout, run_manifest
    from moola.data.registry import DataRegistry
    from moola.evaluation import plots
    from moola.evaluation.metrics import evaluation_metrics, predicted_classes, reliability_bins
    from moola.lineage.manifest import build_manifest, hash_inputs
    from moola.lineage.status import format_results
    from moola.models.registry import ModelRegistry
    from moola.params import load_params, load_section
    from moola.paths import project_root, relative_to_root
    from moola.training.checkpoint import rebuild_model
    from moola.training.loop import predict_proba
    from moola.training.scaler import Scaler

    params = load_params()
    settings = load_section(EvaluateParams, "evaluate", params)
    name = ModelRegistry.name_from_params(params, args.model)
    root = project_root()
    checkpoint_path = layout.checkpoint_file(root, name)
    record_path = layout.training_record_file(root, name)
    record = checkpoint_artifact.read_record(record_path, checkpoint_path)
    checkpoint = checkpoint_artifact.read(checkpoint_path, expected_model=name)
    if checkpoint.get("run_id") != record.get("run_id"):
        raise MoolaError(
            f"{relative_to_root(checkpoint_path)} (run {checkpoint.get('run_id')}) and {relative_to_root(record_path)} "
            f"(run {record.get('run_id')}) come from different runs: rerun `moola train --model {name}`"
        )
    trained_on = checkpoint["data"]
    data = DataRegistry().load_labeled(version=trained_on["labeled_version"], split_name=trained_on["split_name"])
    if (data.audit["labeled_fingerprint"], data.audit["split_sha256"]) != (
        trained_on["labeled_fingerprint"],
        trained_on["split_sha256"],
    ):
        raise MoolaError(
            f"{relative_to_root(checkpoint_path)} was trained on other contents of labeled "
            f"{trained_on['labeled_version']} / split {trained_on['split_name']} than are on disk now: "
            f"rerun `moola train --model {name}` (or `dvc repro`)"
        )

    checkpoint_artifact.require_classes(checkpoint, data.class_names, checkpoint_path)
    model = rebuild_model(checkpoint)
    scaler = Scaler.from_tensors(checkpoint["scaler"])
    class_names = list(checkpoint["class_names"])
    parts = {}
    for part_name in ("val", "test"):
        part = getattr(data, part_name)
        ohlc, feats = scaler.transform(part.ohlc, part.feats)
        parts[part_name] = (np.asarray(part.y), predict_proba(model, ohlc, feats, "cpu"))
    metrics = evaluation_metrics(
        parts, train_labels=np.asarray(data.train.y), class_names=class_names, ece_bins=settings.ece_bins
    )

    test_labels, test_proba = parts["test"]
    test_predicted = predicted_classes(test_proba)
    bins = reliability_bins(test_labels, test_proba, settings.ece_bins)
    history = record["training"]["history"]
    run_id = record["run_id"]
    inputs = {**record["inputs"], **hash_inputs({"checkpoint": checkpoint_path}, root)}
    manifest = build_manifest(
        run_id=run_id,
        created_by="moola evaluate",
        git=record["git"],
        model=record["model"],
        seed=record["seed"],
        data=record["data"],
        paths={**record["paths"], "checkpoint": relative_to_root(checkpoint_path)},
        pretrained=record["load_report"],
        training={**record["training"], "metrics": record["metrics"], "guards": record["guards"]},
        metrics=metrics,
        inputs=inputs,
        params={**record["params"], "evaluate": {"ece_bins": settings.ece_bins}},
        device=record["device"],
        code=record["code"],
    )

    io.write_json(layout.metrics_file(root, "eval"), metrics)
    with io.atomic_directory(layout.plots_dir(root, "eval")) as folder:
        io.write_text(folder / "confusion.csv", plots.confusion_csv(test_labels, test_predicted, class_names))
        io.write_bytes(
            folder / "confusion.png",
            plots.confusion_png(test_labels, test_predicted, class_names, f"{name}: test confusion"),
        )
        io.write_text(folder / "reliability.csv", plots.reliability_csv(bins))
        io.write_bytes(
            folder / "reliability.png",
            plots.reliability_png(bins, settings.ece_bins, metrics["test"]["ece"], f"{name}: test reliability"),
        )
        io.write_text(folder / "curves.csv", plots.curves_csv(history))
        io.write_bytes(folder / "curves.png", plots.curves_png(history, f"{name}: training curves"))
    run_manifest.write(root, manifest)

    test, baseline = metrics["test"], metrics["baseline"]["test"]
    print(
        format_results(
            f"evaluation of run {run_id} ({name}) on test ({test['n']} windows; val {metrics['val']['n']})",
            {
                "accuracy (baseline)": f"{test['accuracy']:.3f} ({baseline['accuracy']:.3f})",
                "macro PR-AUC (baseline)": f"{test['pr_auc_macro']:.3f} ({baseline['pr_auc_macro']:.3f})",
                "macro F1 (baseline)": f"{test['f1_macro']:.3f} ({baseline['f1_macro']:.3f})",
                "Brier (baseline)": f"{test['brier']:.3f} ({baseline['brier']:.3f})",
                "ECE (baseline)": f"{test['ece']:.3f} ({baseline['ece']:.3f})",
                "beats the majority baseline": "yes" if test["accuracy"] > baseline["accuracy"] else "no",
                "manifest": relative_to_root(layout.run_dir(root, run_id) / layout.MANIFEST),
            },
        ),
        flush=True,
    )
    return 0
