"""Stage `train` (`moola train`): guards, status report, training, checkpoint and training record.

Reads `model`, `train`, the model's own section, `encoder` and `base` from params.yaml; each
can be overridden on the command line as in

    moola train --model enhanced_simple_lstm --dataset labeled_windows/v1 \
        --split splits/fwd_chain_v3.json --augment true \
        --synthetic synthetic_cache/v1_temporal_q0.9_r0.5 \
        --pretrained-encoder artifacts/ts2vec/encoder_v1.pt

Writes artifacts/models/<model>.pt (checkpoint), artifacts/models/<model>.json (training
record), metrics/train.json and plots/train/curves.{csv,png}. Every guard runs before anything
is written. A resumable state (artifacts/models/.<model>.pt.state) is saved after every epoch
and removed once the outputs are complete; a rerun after a kill resumes from it when the params,
data and initial weights are the same.
"""

from __future__ import annotations

import argparse
from typing import Any

from moola.errors import MoolaError

MODELS_DIR = "artifacts/models"
RECORD_FORMAT = "moola.training-record/1"


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
    parser.add_argument("--augment", type=_bool, metavar="true|false", help="add the synthetic cache to train (train.augment)")
    parser.add_argument("--synthetic", help="synthetic cache name, e.g. synthetic_cache/v1_temporal_q0.9_r0.5")
    parser.add_argument("--pretrained-encoder", dest="pretrained_encoder",
                        help="TS2Vec encoder file under the project, '' for none (train.pretrained_encoder)")
    parser.add_argument("--epochs", type=int, help="maximum epochs (train.epochs)")


def model_name_from_params(params: dict[str, Any], override: str | None) -> str:
    """The model to train: --model, else the top-level `model:` key, checked against the registry."""
    from moola.models.registry import ModelRegistry

    name = override if override is not None else params.get("model")
    if not isinstance(name, str) or not name:
        raise MoolaError(f"params key model = {name!r} must name a model, e.g. model: enhanced_simple_lstm")
    ModelRegistry.spec(name)  # unknown and legacy names fail here with the registry's message
    return name


def build_model(name: str, params: dict[str, Any], seed: int, n_classes: int) -> tuple[Any, Any, dict]:
    """Build the model from its params section (and the shared `encoder:` section), seeded.

    Returns:
        (model, spec, the params sections the model read).
    """
    from moola.models.registry import ModelRegistry

    spec = ModelRegistry.spec(name)
    section = params.get(name) or {}
    sections = {name: section}
    if spec.uses_encoder:
        sections["encoder"] = params.get("encoder") or {}
    model = ModelRegistry.create(name, section, encoder=params.get("encoder"), n_classes=n_classes, seed=seed)
    return model, spec, sections


def load_pretrained(model: Any, spec: Any, name: str, model_section: dict, encoder_file: str) -> tuple[Any, str | None]:
    """Load the TS2Vec encoder into the model when it takes one; return (LoadReport or None, path or None).

    A model with pretrain_use "none", or with `use_pretrained: false` in its section, loads
    nothing. A named file that does not exist is refused (the guard names what to run).
    """
    from moola.lineage.load_report import read_encoder_checkpoint, report_state_dict_load
    from moola.paths import project_root, resolve_inside

    use = getattr(spec, "pretrain_use", "none")
    if use == "none" or not model_section.get("use_pretrained", True):
        return None, None
    if not encoder_file:
        return None, None
    path = resolve_inside(project_root(), encoder_file, "pretrained encoder")
    if not path.is_file():
        hint = "it is required" if use == "required" else "set train.pretrained_encoder: '' to train without it"
        raise MoolaError(
            f"pretrained encoder {encoder_file} not found: run `moola pretrain-ts2vec` (or `dvc repro pretrain_ts2vec`); {hint}"
        )
    checkpoint = read_encoder_checkpoint(path)
    report = report_state_dict_load(model, checkpoint["state_dict"], source=encoder_file)
    return report, str(path)


def run(args: argparse.Namespace) -> int:
    from moola import io
    from moola.data.registry import DataRegistry
    from moola.device import describe_device, resolve_device, set_threads
    from moola.evaluation import plots
    from moola.lineage.manifest import package_versions, scrub_secrets
    from moola.lineage.status import describe_model, format_results
    from moola.params import from_mapping, load_base, load_params
    from moola.paths import project_root
    from moola.training.checkpoint import save_checkpoint
    from moola.training.config import TrainParams
    from moola.training.trainer import Trainer

    params = load_params()
    base = load_base(params)
    train_section = dict(params.get("train") or {})
    for key in ("dataset", "split", "augment", "synthetic", "pretrained_encoder", "epochs"):
        if getattr(args, key, None) is not None:
            train_section[key] = getattr(args, key)
    settings = from_mapping(TrainParams, train_section, "train")
    name = model_name_from_params(params, args.model)
    set_threads(base.threads)
    device = resolve_device(base.device, base.require_gpu)

    data = DataRegistry().load_labeled(
        version=settings.dataset,
        split_name=settings.split,
        include_synthetic=settings.augment,
        synthetic_version=settings.synthetic if settings.augment else None,
    )
    model, spec, model_sections = build_model(name, params, base.seed, n_classes=len(data.class_names))
    load_report, encoder_path = load_pretrained(model, spec, name, dict(params.get(name) or {}), settings.pretrained_encoder)
    if load_report is not None:
        print(load_report.format(), flush=True)
    used_params = {"model": name, **model_sections, "train": _train_params_used(settings, encoder_path),
                   "base": {"seed": base.seed}}
    root = project_root()
    checkpoint_path = root / MODELS_DIR / f"{name}.pt"
    trainer = Trainer(
        model,
        data,
        config=settings.trainer_config(seed=base.seed, device=device.type, ece_bins=10),
        model_name=name,
        load_report=load_report,
        encoder_path=encoder_path,
        params=used_params,
        state_path=checkpoint_path.parent / f".{checkpoint_path.name}.state",
        log=lambda line: print(line, flush=True),
    )
    result = trainer.train()  # guards and status report first; raises before anything is written
    identity = trainer.identity()
    checkpoint = {**result.checkpoint, "run_id": identity["run_id"]}
    model_facts = describe_model(model, name, spec)
    model_facts["config"] = result.checkpoint["model_config"]
    model_facts["pretrained"] = bool(load_report is not None and load_report.matched)
    record = {
        "format": RECORD_FORMAT,
        "run_id": identity["run_id"],
        "git": identity["git"],
        "seed": base.seed,
        "model": model_facts,
        "params": used_params,
        "inputs": identity["inputs"],
        "paths": trainer.relative_paths(),
        "data": data.audit,
        "load_report": load_report.to_dict() if load_report is not None else None,
        "guards": result.guard_claims,
        "training": result.summary(),
        "metrics": result.metrics(),
        "device": describe_device(device),
        "packages": package_versions(),
        "code": identity["code"],
    }
    save_checkpoint(checkpoint_path, checkpoint)
    io.write_json(checkpoint_path.with_suffix(".json"), scrub_secrets(record))
    io.write_json(root / "metrics" / "train.json", result.metrics())
    io.write_text(root / "plots" / "train" / "curves.csv", plots.curves_csv(result.history))
    io.write_bytes(root / "plots" / "train" / "curves.png", plots.curves_png(result.history, f"{name}: training curves"))
    trainer.discard_state()
    print(
        format_results(
            f"results of run {identity['run_id']} ({name})",
            {
                "epochs run": f"{result.outcome.epochs_run}/{result.max_epochs}"
                + (" (early stop)" if result.outcome.stopped_early else ""),
                "best epoch": result.outcome.best_epoch,
                "best val loss": result.outcome.best_val_loss,
                "train accuracy (real rows)": result.train_accuracy,
                "val accuracy": result.val_accuracy,
                "checkpoint": f"{MODELS_DIR}/{name}.pt",
            },
        ),
        flush=True,
    )
    return 0


def _train_params_used(settings: Any, encoder_path: str | None) -> dict:
    """The train section as used: the encoder entry blanked when no encoder was loaded."""
    from dataclasses import asdict

    used = asdict(settings)
    if encoder_path is None:
        used["pretrained_encoder"] = ""
    if not settings.augment:
        used["synthetic"] = ""
    return used
