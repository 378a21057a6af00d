"""Setting up a training run from params: the model, its pretrained encoder, the record of what ran."""

from __future__ import annotations

from typing import Any

from moola.errors import MoolaError


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


def load_pretrained(
    model: Any, spec: Any, name: str, model_section: dict, encoder_file: str, fold: int, split: dict[str, Any]
) -> tuple[Any, str | None]:
    """Load fold `fold`'s TS2Vec encoder into the model when it takes one; return (LoadReport or None, path or None).

    The encoder file holds one encoder per fold of the split it was pretrained for; fold i's
    encoder never saw fold i's val/test time, so only it may go into fold i's classifier, and
    only when the file was pretrained for the split this run trains with. A model with
    pretrain_use "none", or with `use_pretrained: false` in its section, loads nothing. A named
    file that does not exist is refused (the guard names what to run).

    Args:
        split: the training split's identity, {name, sha256, n_folds}.
    """
    from moola.artifacts import encoder as encoder_artifact
    from moola.lineage.load_report import report_state_dict_load
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
            f"pretrained encoder {encoder_file} not found: run `moola pretrain-ts2vec` (or `dvc repro "
            f"pretrain_ts2vec`); {hint}"
        )
    checkpoint = encoder_artifact.read(path)
    made_for = checkpoint["split"]
    if made_for.get("sha256") != split["sha256"] or checkpoint["n_folds"] != split["n_folds"]:
        raise MoolaError(
            f"pretrained encoder {encoder_file} holds {checkpoint['n_folds']} fold encoder(s) for split "
            f"{made_for.get('name')} ({str(made_for.get('sha256'))[:12]}), but this run trains on split "
            f"{split['name']} "
            f"({split['sha256'][:12]}, {split['n_folds']} fold(s)): set pretrain_ts2vec.split: {split['name']} and "
            f"rerun moola pretrain-ts2vec"
        )
    entry = encoder_artifact.fold_entry(checkpoint, fold, encoder_file)
    report = report_state_dict_load(model, entry["state_dict"], source=encoder_file, fold=fold)
    return report, str(path)


def train_params_used(settings: Any, encoder_path: str | None) -> dict:
    """The train section as used: the encoder entry blanked when no encoder was loaded."""
    from dataclasses import asdict

    used = asdict(settings)
    if encoder_path is None:
        used["pretrained_encoder"] = ""
    if not settings.augment:
        used["synthetic"] = ""
    return used


def training_record(
    *, runs: list, name: str, seed: int, spec: Any, checkpoint_sha256: dict[str, str], device: Any
) -> dict:
    """The training record written beside the checkpoints (format `moola.training-record/1`).

    Args:
        runs: (fold, trainer, result, load_report) per fold, in fold order.
        name: the model name.
        seed: base.seed.
        spec: the model's ModelSpec.
        checkpoint_sha256: {checkpoint file name: sha256}.
        device: the torch device trained on.
    """
    from moola.artifacts.checkpoint import RECORD_FORMAT
    from moola.device import describe_device
    from moola.lineage.load_report import fold_loads_record
    from moola.lineage.manifest import package_versions
    from moola.lineage.status import describe_model

    fold, trainer, result, load_report = runs[-1]
    identity = trainer.identity()
    model_facts = describe_model(trainer.model, name, spec)
    model_facts["config"] = result.checkpoint["model_config"]
    model_facts["pretrained"] = bool(load_report is not None and load_report.matched)
    return {
        "format": RECORD_FORMAT,
        "run_id": identity["run_id"],
        "checkpoint_sha256": dict(checkpoint_sha256),
        "n_folds": len(runs),
        "git": identity["git"],
        "seed": seed,
        "model": model_facts,
        "params": trainer.params,
        "inputs": identity["inputs"],
        "paths": trainer.relative_paths(),
        "data": trainer.data.audit,  # the last (default) fold's; every fold's in `folds`
        "load_report": fold_loads_record([report for _f, _t, _r, report in runs]),
        "guards": result.guard_claims,
        "training": result.summary(),
        "metrics": result.metrics(),
        "folds": [
            {"fold": f, "data": t.data.audit, "training": r.summary(), "metrics": r.metrics(), "guards": r.guard_claims}
            for f, t, r, _report in runs
        ],
        "device": describe_device(device),
        "packages": package_versions(),
        "code": identity["code"],
    }


def fold_results(runs: list) -> dict:
    """metrics/train.json: each fold's training metrics and their mean (nested, numeric)."""
    from moola.artifacts.checkpoint import train_metrics

    return train_metrics([result.metrics() for _fold, _trainer, result, _report in runs])


REMOVED = {"pretraining": "no pretraining", "augmentation": "no synthetic rows"}


def ablation_plan(
    requested: list[str], runs: list, name: str, spec: Any, model_section: dict, settings: Any
) -> dict[str, str | None]:
    """Which requested ablations apply to this run: {ablation: None (it applies) or the reason it does not}.

    `pretraining` applies when the model's own fits loaded a TS2Vec encoder (`load_pretrained`
    decides; adapter_lstm always loads one); `augmentation` when train.augment is true
    (docs/METRICS.md, "Ablations").

    Args:
        requested: evaluate.ablations.
        runs: the model's own fits, (fold, trainer, result, load_report) per fold.
        name, spec, model_section, settings: the model name, its ModelSpec, its params section, the TrainParams.
    """
    plan: dict[str, str | None] = {}
    for ablation in requested:
        if ablation == "pretraining":
            plan[ablation] = (
                None
                if all(report is not None for *_rest, report in runs)
                else (
                    f"model {name} loads no pretrained encoder"
                    if getattr(spec, "pretrain_use", "none") == "none"
                    else f"{name}.use_pretrained is false"
                    if not model_section.get("use_pretrained", True)
                    else "no pretrained encoder was loaded (train.pretrained_encoder is '')"
                )
            )
        elif ablation == "augmentation":
            plan[ablation] = None if settings.augment else "train.augment is false"
        else:
            raise ValueError(f"unknown ablation {ablation!r}")  # EvaluateParams.validate refuses it first
    return plan


def train_folds(
    name: str,
    params: dict,
    settings: Any,
    *,
    seed: int,
    device: Any,
    registry: Any,
    root: Any,
    ablation: str | None = None,
    log: Any = print,
) -> list:
    """Train the model on every fold of the split; returns (fold, trainer, result, load_report) per fold.

    Args:
        name: the model name.
        params: the whole params.yaml mapping.
        settings: the TrainParams.
        seed, device: base.seed and the resolved torch device.
        registry: a DataRegistry.
        root: the project root.
        ablation: None for the model itself; "pretraining" (no encoder loaded) or "augmentation"
            (no synthetic rows): the same folds, seed and val, only that one thing removed.
        log: receives the status lines.
    """
    from dataclasses import replace

    from moola.artifacts import layout
    from moola.training.trainer import Trainer

    if ablation == "augmentation":
        settings = replace(settings, augment=False)
    runs, n_folds, fold = [], 1, 0
    while fold < n_folds:
        data = registry.load_labeled(
            version=settings.dataset,
            split_name=settings.split,
            include_synthetic=settings.augment,
            synthetic_version=settings.synthetic if settings.augment else None,
            fold=fold,
        )
        n_folds = data.audit["n_folds"]
        model, spec, model_sections = build_model(name, params, seed, n_classes=len(data.class_names))
        load_report, encoder_path = None, None
        if ablation != "pretraining":
            split_identity = {"name": data.split["name"], "sha256": data.audit["split_sha256"], "n_folds": n_folds}
            load_report, encoder_path = load_pretrained(
                model, spec, name, dict(params.get(name) or {}), settings.pretrained_encoder, fold, split_identity
            )
        used_params = {
            "model": name,
            **model_sections,
            "train": train_params_used(settings, encoder_path),
            "base": {"seed": seed},
        }
        variant = f", ablation: {REMOVED[ablation]}" if ablation else ""
        log(f"==== fold {fold + 1}/{n_folds} of split {data.split['name']}{variant}")
        if load_report is not None:
            log(load_report.format())
        trainer = Trainer(
            model,
            data,
            config=settings.trainer_config(seed=seed, device=device.type, ece_bins=10),
            model_name=name,
            load_report=load_report,
            encoder_path=encoder_path,
            params=used_params,
            state_path=layout.training_state_file(root, name, fold, ablation),
            log=log,
            ablation=ablation,
        )
        result = trainer.train()  # guards and status report first; raises before anything is written
        runs.append((fold, trainer, result, load_report))
        fold += 1
    return runs


def write_checkpoints(folder: Any, run_id: str, fits: dict[str | None, list]) -> dict[str | None, dict[str, str]]:
    """Write every fold's checkpoint of the model (key None) and of each ablation into the model folder.

    Returns:
        {variant: {checkpoint name relative to the folder: sha256}}.
    """
    from moola.artifacts import checkpoint as checkpoint_artifact
    from moola.artifacts import layout

    hashes: dict[str | None, dict[str, str]] = {}
    for ablation, runs in fits.items():
        hashes[ablation] = {}
        for fold, _trainer, result, _report in runs:
            key = layout.checkpoint_key(fold, ablation)
            (folder / key).parent.mkdir(parents=True, exist_ok=True)
            doc = {**result.checkpoint, "run_id": run_id, "fold": fold, **({"ablation": ablation} if ablation else {})}
            hashes[ablation][key] = checkpoint_artifact.write(folder / key, doc)
    return hashes


def ablation_record(plan: dict[str, str | None], fits: dict[str, list], checkpoint_sha256: dict[str, dict]) -> dict:
    """The training record's `ablations` block: per requested ablation, whether it applies, why not, its fits."""
    block = {}
    for ablation, reason in plan.items():
        if reason is not None:
            block[ablation] = {"applies": 0, "reason": reason}
            continue
        block[ablation] = {
            "applies": 1,
            "removed": REMOVED[ablation],
            "checkpoint_sha256": dict(checkpoint_sha256[ablation]),
            "folds": [
                {
                    "fold": f,
                    "data": t.data.audit,
                    "training": r.summary(),
                    "metrics": r.metrics(),
                    "guards": r.guard_claims,
                    "load_report": p.to_dict() if p else None,
                }
                for f, t, r, p in fits[ablation]
            ],
        }
    return block
