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


def training_record(
    *, trainer: Any, result: Any, model: Any, spec: Any, name: str, seed: int, used_params: dict,
    load_report: Any, checkpoint_sha256: str, device: Any,
) -> dict:
    """The training record written beside the checkpoint (format `moola.training-record/1`)."""
    from moola.artifacts.checkpoint import RECORD_FORMAT
    from moola.device import describe_device
    from moola.lineage.manifest import package_versions
    from moola.lineage.status import describe_model

    identity = trainer.identity()
    model_facts = describe_model(model, name, spec)
    model_facts["config"] = result.checkpoint["model_config"]
    model_facts["pretrained"] = bool(load_report is not None and load_report.matched)
    return {
        "format": RECORD_FORMAT,
        "run_id": identity["run_id"],
        "checkpoint_sha256": checkpoint_sha256,
        "git": identity["git"],
        "seed": seed,
        "model": model_facts,
        "params": used_params,
        "inputs": identity["inputs"],
        "paths": trainer.relative_paths(),
        "data": trainer.data.audit,
        "load_report": load_report.to_dict() if load_report is not None else None,
        "guards": result.guard_claims,
        "training": result.summary(),
        "metrics": result.metrics(),
        "device": describe_device(device),
        "packages": package_versions(),
        "code": identity["code"],
    }
