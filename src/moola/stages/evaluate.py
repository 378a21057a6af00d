"""Stage `evaluate` (`moola evaluate`): out-of-fold metrics with intervals, tests, verdicts, manifest.

Reads the checkpoints and training record of the selected model (artifacts/models/<model>/),
predicts every fold's test windows with that fold's model on the CPU (bitwise repeatable),
fits the majority and logistic baselines on each fold's train rows, and writes
metrics/eval.json (nested numeric JSON: every metric with its 95% interval, every comparison
with its difference, interval and one-sided p-value), metrics/headline.json (its ten-odd headline
numbers, flat, for `dvc exp show`), plots/eval/, the out-of-fold table and the
manifest at artifacts/runs/<run_id>/ and artifacts/runs/latest/. "Beats" is said only when the
test says so (p < evaluate.alpha, and the within-fold no-skill p too) and the model did not
collapse to one class; each verdict carries its detectable effect (docs/METRICS.md). Each ablation
of evaluate.ablations that was fitted is predicted the same way, stored beside the table
(predictions_ablation_<name>.parquet) and compared with the model on the same windows.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model whose checkpoints to evaluate (overrides the top-level `model:` key)")


def run(args: argparse.Namespace) -> int:
    from moola import io
    from moola.artifacts import checkpoint as checkpoint_artifact
    from moola.artifacts import layout, run_manifest
    from moola.data.registry import DataRegistry
    from moola.evaluation.config import EvaluateParams
    from moola.evaluation.metrics import metrics_pack
    from moola.evaluation.report import headline_metrics, interval_text, out_of_fold_report, verdict_lines
    from moola.lineage.manifest import build_manifest, hash_inputs
    from moola.lineage.status import format_results
    from moola.models.registry import ModelRegistry
    from moola.params import load_base, load_params, load_section
    from moola.paths import project_root, relative_to_root
    from moola.training.predict import predict_ablations, predict_folds

    params = load_params()
    settings = load_section(EvaluateParams, "evaluate", params)
    base = load_base(params)
    name = ModelRegistry.name_from_params(params, args.model)
    root = project_root()
    record = checkpoint_artifact.read_record(layout.training_record_file(root, name), layout.model_dir(root, name))
    found = predict_folds(
        root,
        name,
        record,
        registry := DataRegistry(),
        logistic_C=settings.logistic_C,
        seed=base.seed,
        ece_bins=settings.ece_bins,
    )
    oof, class_names = found.oof, list(found.oof.class_names)
    metrics, pack = out_of_fold_report(
        oof,
        found.baselines,
        alpha=settings.alpha,
        collapse_threshold=settings.collapse_threshold,
        n_resamples=settings.n_resamples,
        seed=base.seed,
        ece_bins=settings.ece_bins,
    )
    metrics["test"].update(
        {
            k: v
            for k, v in metrics_pack(oof.y_true, oof.proba, class_names, settings.ece_bins).items()
            if k in ("f1", "average_precision", "classes_absent")
        }
    )
    if found.val_labels.size:
        metrics["val"] = metrics_pack(found.val_labels, found.val_proba, class_names, settings.ece_bins)
    metrics["folds"] = found.per_fold
    ablations, sentences, ablation_tables = predict_ablations(root, name, record, registry, settings, base.seed, oof)
    metrics.update({"ablation": ablations} if ablations else {})

    run_id = record["run_id"]
    history = [{**row, "fold": fold["fold"]} for fold in record["folds"] for row in fold["training"]["history"]]
    inputs = {**record["inputs"], **hash_inputs({"checkpoints": layout.model_dir(root, name)}, root)}
    manifest = build_manifest(
        run_id=run_id,
        created_by="moola evaluate",
        git=record["git"],
        model=record["model"],
        seed=record["seed"],
        data={**record["data"], "folds": [fold["data"] for fold in record["folds"]]},
        paths={**record["paths"], "checkpoints": relative_to_root(layout.model_dir(root, name))},
        pretrained=record["load_report"],
        training={
            **record["training"],
            "metrics": record["metrics"],
            "guards": record["guards"],
            "folds": [{k: v for k, v in fold.items() if k != "data"} for fold in record["folds"]],
            "ablations": checkpoint_artifact.ablations(record),
        },
        metrics=metrics,
        inputs=inputs,
        params={**record["params"], "evaluate": dict(vars(settings))},
        device=record["device"],
        code=record["code"],
    )
    manifest["verdicts"] = {
        "text": pack["verdict"],
        "tests": pack["tests"],
        "alpha": settings.alpha,
        "collapse": pack["collapse"],
        "n_windows": oof.n,
        "skill": pack["skill"],
        "no_skill": pack["no_skill"],
        "ablation": sentences,
    }
    tables = {layout.PREDICTIONS: oof.to_frame(), **ablation_tables}
    manifest["outputs"] = {file_name: io.sha256_bytes(io.parquet_bytes(table)) for file_name, table in tables.items()}

    io.write_json(layout.metrics_file(root, "eval"), metrics)
    io.write_json(layout.metrics_file(root, "headline"), headline_metrics(metrics))
    _write_plots(root, name, oof, settings.ece_bins, metrics["test"]["ece"], history)
    target = run_manifest.write(root, manifest, tables=tables)
    intervals = pack["metrics"]
    print(
        format_results(
            f"evaluation of run {run_id} ({name}): {oof.n} out-of-fold test windows over {record['n_folds']} "
            "fold(s), 95% intervals",
            {
                "accuracy": interval_text(intervals["accuracy"])
                + f"  (majority baseline {metrics['baseline']['majority']['accuracy']:.3f})",
                "macro F1": interval_text(intervals["f1_macro"]),
                "macro PR-AUC": interval_text(intervals["pr_auc_macro"]),
                "Brier": interval_text(intervals["brier"])
                + f"  (majority baseline {metrics['baseline']['majority']['brier']:.3f})",
                "ECE": interval_text(intervals["ece"]),
                "accuracy - majority": interval_text(
                    {
                        "value": pack["vs_majority"]["accuracy"]["difference"],
                        **{k: pack["vs_majority"]["accuracy"][k] for k in ("ci_low", "ci_high")},
                    }
                ),
                **verdict_lines(pack),
                **{f"ablation {ablation}": sentence for ablation, sentence in sentences.items()},
                "manifest": relative_to_root(target),
            },
        ),
        flush=True,
    )
    return 0


def _write_plots(root, name: str, oof, ece_bins: int, ece: float, history: list[dict]) -> None:
    """plots/eval/: confusion and reliability of the out-of-fold windows, and the training curves."""
    from moola import io
    from moola.artifacts import layout
    from moola.evaluation import plots
    from moola.evaluation.metrics import predicted_classes, reliability_bins

    class_names = list(oof.class_names)
    predicted = predicted_classes(oof.proba)
    bins = reliability_bins(oof.y_true, oof.proba, ece_bins)
    with io.atomic_directory(layout.plots_dir(root, "eval")) as folder:
        io.write_text(folder / "confusion.csv", plots.confusion_csv(oof.y_true, predicted, class_names))
        io.write_bytes(
            folder / "confusion.png",
            plots.confusion_png(oof.y_true, predicted, class_names, f"{name}: out-of-fold confusion"),
        )
        io.write_text(folder / "reliability.csv", plots.reliability_csv(bins))
        io.write_bytes(
            folder / "reliability.png", plots.reliability_png(bins, ece_bins, ece, f"{name}: out-of-fold reliability")
        )
        io.write_text(folder / "curves.csv", plots.curves_csv(history))
        io.write_bytes(folder / "curves.png", plots.curves_png(history, f"{name}: training curves"))
