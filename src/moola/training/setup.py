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


def load_pretrained(model: Any, spec: Any, name: str, model_section: dict, encoder_file: str) -> tuple[Any, str | None]:
    """Load the TS2Vec encoder into the model when it takes one; return (LoadReport or None, path or None).

    A model with pretrain_use "none", or with `use_pretrained: false` in its section, loads
    nothing. A named file that does not exist is refused (the guard names what to run).
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
            f"pretrained encoder {encoder_file} not found: run `moola pretrain-ts2vec` (or `dvc repro pretrain_ts2vec`); {hint}"
        )
    checkpoint = encoder_artifact.read(path)
    report = report_state_dict_load(model, checkpoint["state_dict"], source=encoder_file)
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


def training_record(*, runs: list, name: str, seed: int, spec: Any, checkpoint_sha256: dict[str, str], device: Any) -> dict:
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
        "load_report": load_report.to_dict() if load_report is not None else None,
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
