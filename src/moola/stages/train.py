"""Stage `train` (`moola train`): guards, status report, training, checkpoint and training record.

Reads `model`, `train`, the model's own section, `encoder` and `base` from params.yaml; each
can be overridden on the command line as in

    moola train --model enhanced_simple_lstm --dataset labeled_windows/v1 \
        --split splits/fwd_chain_v3.json --augment true \
        --synthetic synthetic_cache/v1_temporal_q0.9_r0.5 \
        --pretrained-encoder artifacts/ts2vec/encoder_v1.pt

Writes artifacts/models/<model>/fold_<i>.pt (checkpoints), artifacts/models/<model>/record.json
(training record), metrics/train.json and plots/train/curves.{csv,png}. Each ablation that
evaluate.ablations requests and that applies refits the same folds without one thing
(artifacts/models/<model>/ablation_<name>/fold_<i>.pt, listed in the record). Every guard runs before anything
is written. A resumable state (artifacts/models/.<model>.pt.state) is saved after every epoch
and removed once the outputs are complete; a rerun after a kill resumes from it when the params,
data and initial weights are the same.
"""

from __future__ import annotations

import argparse


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="registered model name (overrides the top-level `model:` key)")
    parser.add_argument("--dataset", help="labeled version, e.g. v1 or labeled_windows/v1 (train.dataset)")
    parser.add_argument("--split", help="split name, e.g. fwd_chain_v3 or splits/fwd_chain_v3.json (train.split)")
    parser.add_argument(
        "--augment", type=_bool, metavar="true|false", help="add the synthetic cache to train (train.augment)"
    )
    parser.add_argument("--synthetic", help="synthetic cache name, e.g. synthetic_cache/v1_temporal_q0.9_r0.5")
    parser.add_argument(
        "--pretrained-encoder",
        dest="pretrained_encoder",
        help="TS2Vec encoder file under the project, '' for none (train.pretrained_encoder)",
    )
    parser.add_argument("--epochs", type=int, help="maximum epochs (train.epochs)")


def run(args: argparse.Namespace) -> int:
    from moola import io
    from moola.artifacts import layout
    from moola.artifacts.common import shown
    from moola.data.registry import DataRegistry
    from moola.device import resolve_device, set_threads
    from moola.evaluation import plots
    from moola.evaluation.config import EvaluateParams
    from moola.lineage.manifest import scrub_secrets
    from moola.lineage.status import format_results
    from moola.models.registry import ModelRegistry
    from moola.params import from_mapping, load_base, load_params, load_section
    from moola.paths import project_root
    from moola.training.config import TrainParams
    from moola.training.setup import (
        ablation_plan,
        ablation_record,
        fold_results,
        train_folds,
        training_record,
        write_checkpoints,
    )

    params = load_params()
    base = load_base(params)
    train_section = dict(params.get("train") or {})
    for key in ("dataset", "split", "augment", "synthetic", "pretrained_encoder", "epochs"):
        if getattr(args, key, None) is not None:
            train_section[key] = getattr(args, key)
    settings = from_mapping(TrainParams, train_section, "train")
    requested = load_section(EvaluateParams, "evaluate", params).ablations
    name = ModelRegistry.name_from_params(params, args.model)
    set_threads(base.threads)
    device = resolve_device(base.device, base.require_gpu)
    root = project_root()
    registry = DataRegistry()

    def log(line: str) -> None:
        print(line, flush=True)

    fit = dict(seed=base.seed, device=device, registry=registry, root=root, log=log)
    runs = train_folds(name, params, settings, **fit)  # (fold, trainer, result, load_report) in fold order
    n_folds, spec = len(runs), ModelRegistry.spec(name)
    plan = ablation_plan(requested, runs, name, spec, dict(params.get(name) or {}), settings)
    for ablation, reason in plan.items():
        if reason is not None:
            log(f"==== ablation {ablation}: not applicable ({reason})")
    ablated = {
        ablation: train_folds(name, params, settings, ablation=ablation, **fit)
        for ablation, reason in plan.items()
        if reason is None
    }
    run_id = runs[-1][1].identity()["run_id"]  # the same for every fold: same params, inputs and code
    with io.atomic_directory(layout.model_dir(root, name)) as folder:
        hashes = write_checkpoints(folder, run_id, {None: runs, **ablated})
        record = training_record(
            runs=runs, name=name, seed=base.seed, spec=spec, checkpoint_sha256=hashes[None], device=device
        )
        record["ablations"] = ablation_record(plan, ablated, hashes)
        io.write_json(folder / layout.training_record_file(root, name).name, scrub_secrets(record))
    io.write_json(layout.metrics_file(root, "train"), fold_results(runs))
    curves = layout.plots_dir(root, "train")
    history = [{**row, "fold": fold} for fold, _t, result, _r in runs for row in result.history]
    io.write_text(curves / "curves.csv", plots.curves_csv(history))
    io.write_bytes(curves / "curves.png", plots.curves_png(history, f"{name}: training curves"))
    for _fold, trainer, _result, _report in [*runs, *(run for fits in ablated.values() for run in fits)]:
        trainer.discard_state()
    last = runs[-1][2]
    print(
        format_results(
            f"results of run {run_id} ({name}, {n_folds} fold(s))",
            {
                "epochs run per fold": ", ".join(f"{r.outcome.epochs_run}/{r.max_epochs}" for _f, _t, r, _p in runs),
                "val accuracy per fold": ", ".join(f"{r.val_accuracy:.3f}" for _f, _t, r, _p in runs),
                "best val loss (last fold)": last.outcome.best_val_loss,
                **{
                    f"ablation {a}": "val accuracy per fold "
                    + ", ".join(f"{r.val_accuracy:.3f}" for _f, _t, r, _p in fits)
                    for a, fits in ablated.items()
                },
                "checkpoints": shown(layout.model_dir(root, name)),
            },
        ),
        flush=True,
    )
    return 0
