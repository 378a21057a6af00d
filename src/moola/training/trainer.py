"""`Trainer`: guards, normalisation, the training loop, metrics and the run's proof, in one call.

    data = DataRegistry().load_labeled()
    model = ModelRegistry.create("enhanced_simple_lstm")
    result = Trainer(model, data, run_dir).fit(epochs=2)   # writes run_dir/model.pt, manifest.json

The `moola train` stage uses the same class (`train()` only; it writes its own outputs), so the
API and the pipeline cannot drift apart. The Trainer is the one piece of `training/` that calls
`moola.lineage` (guards before training, the manifest after): a run that cannot prove itself is
not offered, even from Python.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from moola.artifacts import layout
from moola.artifacts.checkpoint import build as build_checkpoint
from moola.artifacts.checkpoint import write as save_checkpoint
from moola.errors import MoolaError
from moola.training.config import TrainConfig
from moola.training.loop import (
    STATE_FORMAT,
    LoopOutcome,
    fit_estimator,
    is_torch_model,
    log_loss,
    predict_proba,
    train_torch_model,
)
from moola.training.scaler import Scaler, fit_scaler

CHECKPOINT_NAME = "model.pt"
MANIFEST_NAME = layout.MANIFEST


@dataclass
class TrainResult:
    """What a training run produced (the weights are also left in the Trainer's model)."""

    model_name: str
    checkpoint: dict
    outcome: LoopOutcome
    max_epochs: int
    scaler: Scaler
    train_accuracy: float  # real train rows, eval mode, best weights
    train_loss: float
    val_accuracy: float
    val_loss: float
    guard_claims: list[str] = field(default_factory=list)

    @property
    def history(self) -> list[dict]:
        """One dict per epoch: epoch, train_loss, val_loss, val_acc, grad norms, phase."""
        return [asdict(record) for record in self.outcome.history]

    def metrics(self) -> dict:
        """metrics/train.json: nested, numeric, deterministic on CPU."""
        return {
            "best_epoch": self.outcome.best_epoch,
            "best_val_loss": self.outcome.best_val_loss,
            "epochs_run": self.outcome.epochs_run,
            "stopped_early": int(self.outcome.stopped_early),
            "train": {"accuracy": self.train_accuracy, "loss": self.train_loss},
            "val": {"accuracy": self.val_accuracy, "loss": self.val_loss},
        }

    def summary(self) -> dict:
        """The training block of the record and the manifest."""
        return {
            "max_epochs": self.max_epochs,
            "epochs_run": self.outcome.epochs_run,
            "best_epoch": self.outcome.best_epoch,
            "best_val_loss": self.outcome.best_val_loss,
            "stopped_early": self.outcome.stopped_early,
            "phases": sorted({record.phase for record in self.outcome.history}),
            "history": self.history,
        }


def registry_name(model: Any) -> str:
    """The ModelRegistry name of a built model (its class registered under exactly one name)."""
    from moola.models.registry import ModelRegistry

    for name in ModelRegistry.names():
        if type(model) is ModelRegistry.spec(name).model_cls:
            return name
    raise MoolaError(f"cannot tell which registered model a {type(model).__name__} is: pass model_name=")


class Trainer:
    """Train one model on one LabeledData, with guards first and a manifest last.

    Args:
        model: a model from `ModelRegistry.create` (torch module or MiniRocket), pretrained
            encoder already loaded when one is used (see `moola.lineage.load_report`).
        data: a `LabeledData` from `DataRegistry.load_labeled`.
        run_dir: where `fit()` writes model.pt and manifest.json (None: `fit()` refused).
        config: a TrainConfig (defaults: 60 epochs, batch 32, lr 3e-3, patience 20, CPU).
        model_name: the registry name; found from the model's class when omitted.
        load_report: the LoadReport of the pretrained load, or None.
        encoder_path: the pretrained encoder file (for the guards and the manifest), or None.
        params: the params sections the run read (for the run id and manifest); defaults to
            the model name, its config and the TrainConfig.
        state_path: file for the per-epoch resumable state (None: no resume).
        log: receives the status report and progress lines.
        ablation: the ablation this fit is ("pretraining": the encoder is deliberately left
            unloaded, so a model that requires one trains with its seeded random init; the
            bypass is stated among the guard claims), or None for the model itself.
    """

    def __init__(
        self,
        model: Any,
        data: Any,
        run_dir: str | os.PathLike | None = None,
        config: TrainConfig | None = None,
        *,
        model_name: str | None = None,
        load_report: Any = None,
        encoder_path: str | os.PathLike | None = None,
        params: dict | None = None,
        state_path: str | os.PathLike | None = None,
        log: Callable[[str], None] = print,
        ablation: str | None = None,
    ):
        from moola.device import resolve_device

        self.model = model
        self.data = data
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.config = config or TrainConfig()
        self.config.validate()
        self.model_name = model_name or registry_name(model)
        self.load_report = load_report
        self.encoder_path = Path(encoder_path) if encoder_path else None
        self.state_path = Path(state_path) if state_path else None
        self.log = log
        self.ablation = ablation
        self.device = resolve_device(self.config.device)
        self.params = (
            params
            if params is not None
            else {
                "model": self.model_name,
                "model_config": _model_config(model),
                "train": self.config.to_dict(),
            }
        )
        self._identity: dict | None = None

    # ----- identity: run id, inputs, git ---------------------------------------------------

    def identity(self) -> dict:
        """Run id, input hashes, git state and code version (computed once)."""
        if self._identity is None:
            from moola.codedeps import code_version
            from moola.lineage.manifest import compute_run_id, git_state, hash_inputs
            from moola.paths import project_root

            root = project_root()
            paths = dict(getattr(self.data, "paths", {}) or {})
            inputs = hash_inputs(
                {
                    "labeled": paths.get("labeled"),
                    "split": paths.get("split"),
                    "synthetic": paths.get("synthetic"),
                    "encoder": self.encoder_path,
                },
                root,
            )
            code = code_version("train")
            self._identity = {
                "run_id": compute_run_id(self.params, inputs, code["code_sha256"]),
                "inputs": inputs,
                "git": git_state(root),
                "code": code,
                "root": root,
            }
        return self._identity

    def relative_paths(self) -> dict:
        """Input paths relative to the project root, as the manifest names them."""
        from moola.paths import relative_to_root

        paths = dict(getattr(self.data, "paths", {}) or {})
        named = {key: paths.get(key) for key in ("labeled", "split", "synthetic")}
        named["encoder"] = self.encoder_path
        return {key: relative_to_root(Path(value)) if value else None for key, value in named.items()}

    # ----- the run ---------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Run every guard (nothing is trained or written when one refuses)."""
        from moola.lineage.guards import check_before_training
        from moola.models.registry import ModelRegistry

        spec = ModelRegistry.spec(self.model_name)
        pretrain_use = getattr(spec, "pretrain_use", "none")
        without_encoder = self.ablation == "pretraining"
        if without_encoder and (self.load_report is not None or self.encoder_path is not None):
            raise ValueError("the pretraining ablation must not load an encoder")  # a bug in the caller
        claims = check_before_training(
            self.data,
            model_name=self.model_name,
            pretrain_use="none" if without_encoder else pretrain_use,
            min_ks_pval=self.config.min_ks_pval,
            min_pretrained_match=self.config.min_pretrained_match,
            encoder_path=str(self.encoder_path) if self.encoder_path else None,
            load_report=self.load_report,
        )
        if without_encoder:
            claims.append(
                f"ablation: no pretrained encoder (the {pretrain_use} encoder left at its seeded random init)"
            )
        elif hasattr(self.model, "check_trainable"):
            self.model.check_trainable()  # the model's own refusal (adapter_lstm without weights)
        return claims

    def status_report(self, guard_claims: list[str]) -> str:
        """The start-of-run block."""
        from moola.device import describe_device
        from moola.lineage.status import describe_model, format_status_report
        from moola.models.registry import ModelRegistry

        identity = self.identity()
        return format_status_report(
            run_id=identity["run_id"],
            git=identity["git"],
            seed=self.config.seed,
            model=describe_model(self.model, self.model_name, ModelRegistry.spec(self.model_name)),
            data_audit=self.data.audit,
            split=self.data.split,
            load_report=self.load_report,
            augment=self.data.synthetic_meta is not None,
            hyperparameters={
                "epochs": self.config.epochs,
                "batch_size": self.config.batch_size,
                "lr": self.config.lr,
                "weight_decay": self.config.weight_decay,
                "patience": self.config.patience,
                "class_weight": self.config.class_weight,
                "lr_schedule": self.config.lr_schedule,
                "min_epochs": self.config.min_epochs,
            },
            device=describe_device(self.device),
            guard_claims=guard_claims,
        )

    def train(self, epochs: int | None = None) -> TrainResult:
        """Guards, status report, then training; returns the result (writes only the resume state).

        Args:
            epochs: overrides config.epochs.
        """
        max_epochs = int(epochs if epochs is not None else self.config.epochs)
        if max_epochs < 1:
            raise MoolaError(f"epochs must be >= 1, got {max_epochs}")
        guard_claims = self.check()
        self.log(self.status_report(guard_claims))
        train, val = self.data.train, self.data.val
        scaler = fit_scaler(train.ohlc, train.feats, train.is_synthetic)
        train_arrays = (*scaler.transform(train.ohlc, train.feats), np.asarray(train.y, dtype=np.int64))
        val_arrays = (*scaler.transform(val.ohlc, val.feats), np.asarray(val.y, dtype=np.int64))
        if is_torch_model(self.model):
            outcome = self._train_torch(train_arrays, val_arrays, max_epochs)
        else:
            outcome = fit_estimator(self.model, train_arrays, val_arrays, log=self.log)
        real = ~np.asarray(train.is_synthetic, dtype=bool)
        train_proba = predict_proba(self.model, train_arrays[0][real], train_arrays[1][real], self.device)
        val_proba = predict_proba(self.model, val_arrays[0], val_arrays[1], self.device)
        return TrainResult(
            model_name=self.model_name,
            checkpoint=self.build_checkpoint(scaler),
            outcome=outcome,
            max_epochs=1 if not is_torch_model(self.model) else max_epochs,
            scaler=scaler,
            train_accuracy=float(np.mean(train_proba.argmax(axis=1) == train_arrays[2][real])),
            train_loss=log_loss(train_arrays[2][real], train_proba),
            val_accuracy=float(np.mean(val_proba.argmax(axis=1) == val_arrays[2])),
            val_loss=log_loss(val_arrays[2], val_proba),
            guard_claims=guard_claims,
        )

    def _train_torch(self, train_arrays: tuple, val_arrays: tuple, max_epochs: int) -> LoopOutcome:
        self.model.to(self.device)

        def to_device(arrays: tuple) -> tuple:
            return tuple(torch.as_tensor(array, device=self.device) for array in arrays)

        from moola.artifacts import resume

        key = self._resume_key(train_arrays, val_arrays, max_epochs)
        resume_state = resume.load(self.state_path, STATE_FORMAT, key, log=self.log)
        if resume_state is not None:
            self.log(f"resuming from {self.state_path.name}: {resume_state['epoch']} epoch(s) already done")

        def save_state(state: dict) -> None:
            resume.save(self.state_path, STATE_FORMAT, key, state)

        return train_torch_model(
            self.model,
            to_device(train_arrays),
            to_device(val_arrays),
            self.config,
            max_epochs,
            resume_state=resume_state,
            save_state=save_state if self.state_path is not None else None,
            log=self.log,
        )

    def _resume_key(self, train_arrays: tuple, val_arrays: tuple, max_epochs: int) -> str:
        """A hash of everything that decides the run: config, epochs, data, initial weights."""
        from moola.io import dumps_json, sha256_array

        digest = hashlib.sha256()
        config = {k: v for k, v in self.config.to_dict().items() if k != "ece_bins"}
        digest.update(
            dumps_json(
                {
                    "config": config,
                    "epochs": max_epochs,
                    "model": self.model_name,
                    "model_config": _model_config(self.model),
                }
            ).encode("utf-8")
        )
        for array in (*train_arrays, *val_arrays):
            digest.update(sha256_array(array).encode("ascii"))
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode("utf-8"))
            digest.update(sha256_array(tensor.detach().cpu().numpy()).encode("ascii"))
        return digest.hexdigest()

    def discard_state(self) -> None:
        """Delete the resumable state once the final outputs are written."""
        from moola.artifacts import resume

        resume.discard(self.state_path)

    def build_checkpoint(self, scaler: Scaler) -> dict:
        """The `moola.checkpoint/1` dict of the model as it stands."""
        audit = getattr(self.data, "audit", {}) or {}
        encoder = getattr(self.model, "encoder", None)
        encoder_config = getattr(encoder, "config", None)
        return build_checkpoint(
            model_name=self.model_name,
            model_config=_model_config(self.model),
            state_dict=self.model.state_dict(),
            scaler=scaler.to_tensors(),
            class_names=list(self.data.class_names),
            encoder_config=encoder_config.to_dict() if encoder_config is not None else None,
            data={
                "labeled_version": audit.get("labeled_version"),
                "labeled_fingerprint": audit.get("labeled_fingerprint"),
                "split_name": audit.get("split_name"),
                "split_sha256": audit.get("split_sha256"),
                "synthetic": audit.get("synthetic_version"),
            },
        )

    def evaluate(self, scaler: Scaler) -> dict:
        """Metrics of the trained model on val and test, and of the majority-class baseline."""
        from moola.evaluation.metrics import evaluation_metrics

        parts = {}
        for name in ("val", "test"):
            part = getattr(self.data, name)
            ohlc, feats = scaler.transform(part.ohlc, part.feats)
            parts[name] = (np.asarray(part.y), predict_proba(self.model, ohlc, feats, self.device))
        real = ~np.asarray(self.data.train.is_synthetic, dtype=bool)
        return evaluation_metrics(
            parts,
            train_labels=np.asarray(self.data.train.y)[real],
            class_names=self.data.class_names,
            ece_bins=self.config.ece_bins,
        )

    def fit(self, epochs: int | None = None) -> TrainResult:
        """Train, evaluate on val and test, and write run_dir/model.pt and run_dir/manifest.json.

        Args:
            epochs: overrides config.epochs.

        Returns:
            The TrainResult; `manifest["metrics"]["accuracy"]` is the test accuracy.
        """
        if self.run_dir is None:
            raise MoolaError("Trainer.fit needs a run_dir to write the checkpoint and manifest into")
        result = self.train(epochs)
        metrics = self.evaluate(result.scaler)
        checkpoint_path = self.run_dir / CHECKPOINT_NAME
        save_checkpoint(checkpoint_path, result.checkpoint)
        manifest = self.manifest(result, metrics, checkpoint_path, created_by="moola.training.Trainer.fit")
        from moola.artifacts import run_manifest

        run_manifest.write_file(self.run_dir / MANIFEST_NAME, manifest)
        self.discard_state()
        return result

    def manifest(self, result: TrainResult, metrics: dict, checkpoint_path: Path, created_by: str) -> dict:
        """The run manifest of a finished run whose checkpoint is at `checkpoint_path`."""
        from moola.device import describe_device
        from moola.lineage.manifest import build_manifest, hash_inputs
        from moola.lineage.status import describe_model
        from moola.models.registry import ModelRegistry
        from moola.paths import relative_to_root

        identity = self.identity()
        inputs = {**identity["inputs"], **hash_inputs({"checkpoint": checkpoint_path}, identity["root"])}
        model_facts = describe_model(self.model, self.model_name, ModelRegistry.spec(self.model_name))
        model_facts["config"] = _model_config(self.model)
        model_facts["pretrained"] = bool(self.load_report is not None and self.load_report.matched)
        return build_manifest(
            run_id=identity["run_id"],
            created_by=created_by,
            git=identity["git"],
            model=model_facts,
            seed=self.config.seed,
            data=self.data.audit,
            paths={**self.relative_paths(), "checkpoint": relative_to_root(checkpoint_path)},
            pretrained=self.load_report.to_dict() if self.load_report is not None else None,
            training={**result.summary(), "metrics": result.metrics()},
            metrics=metrics,
            inputs=inputs,
            params=self.params,
            device=describe_device(self.device),
            code=identity["code"],
        )


def _model_config(model: Any) -> dict:
    config = getattr(model, "config", None)
    if config is None:
        return {}
    return config.to_dict() if hasattr(config, "to_dict") else asdict(config)
