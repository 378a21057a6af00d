"""Pretrained-load report: which of a model's encoder tensors a pretrained file really filled.

A pretrained encoder that silently loads nothing is the classic invisible failure: training
goes on from random weights and the run still claims "pretrained". `report_state_dict_load`
compares names and shapes, loads only the tensors that match, and returns the figures that the
status report prints, the guard checks (`train.min_pretrained_match`) and the manifest stores.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

ENCODER_PREFIX = "encoder."


@dataclass
class LoadReport:
    """Outcome of loading a pretrained state dict into a model's tensors under `prefix`."""

    source: str  # the pretrained file, relative to the project root
    prefix: str  # where the tensors go in the model ("encoder.")
    matched: list[str] = field(default_factory=list)  # model names filled from the file
    missing: list[dict] = field(default_factory=list)  # {name, shape}: in the model, not in the file
    mismatched: list[dict] = field(default_factory=list)  # {name, model_shape, file_shape}
    unexpected: list[dict] = field(default_factory=list)  # {name, shape}: in the file, not in the model
    model_tensors: int = 0  # tensors of the model under `prefix`
    frozen_parameters: int = 0  # parameters with requires_grad False at the start of training
    total_parameters: int = 0
    fold: int | None = None  # which fold's encoder of the file was loaded (one per fold of the split)

    @property
    def match_fraction(self) -> float:
        """Matched share of the model's tensors under the prefix (0 when it has none)."""
        return len(self.matched) / self.model_tensors if self.model_tensors else 0.0

    def to_dict(self) -> dict:
        """JSON form for the training record and the manifest."""
        record = asdict(self)
        record["matched_count"] = len(self.matched)
        record["match_fraction"] = self.match_fraction
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> "LoadReport":
        names = {
            "source",
            "prefix",
            "matched",
            "missing",
            "mismatched",
            "unexpected",
            "model_tensors",
            "frozen_parameters",
            "total_parameters",
            "fold",
        }
        return cls(**{k: v for k, v in record.items() if k in names})

    @property
    def described_source(self) -> str:
        """The file, and which fold's encoder of it: `artifacts/ts2vec/encoder_v1.pt (encoder of fold_1)`.

        Folds are named by their metrics key (`fold_0` is the first), as in metrics/*.json."""
        return self.source if self.fold is None else f"{self.source} (encoder of fold_{self.fold})"

    def summary_line(self) -> str:
        """`matched 8/8 encoder tensors (100%), missing 0, mismatched 0, unexpected 0, frozen 33,792 params`."""
        return (
            f"matched {len(self.matched)}/{self.model_tensors} {self.prefix.rstrip('.')} tensors "
            f"({self.match_fraction:.0%}), missing {len(self.missing)}, mismatched {len(self.mismatched)}, "
            f"unexpected {len(self.unexpected)}, frozen {self.frozen_parameters:,} of {self.total_parameters:,} params"
        )

    def mismatch_details(self, limit: int = 4) -> str:
        """The first few missing / mismatched / unexpected tensors with shapes, for error lines."""
        parts = [f"{m['name']} model {m['model_shape']} vs file {m['file_shape']}" for m in self.mismatched]
        parts += [f"{m['name']} {m['shape']} missing from file" for m in self.missing]
        parts += [f"{m['name']} {m['shape']} not in model" for m in self.unexpected]
        shown = "; ".join(parts[:limit])
        more = f"; and {len(parts) - limit} more" if len(parts) > limit else ""
        return shown + more if parts else "none"

    def format(self) -> str:
        """Multi-line text: the summary, then every tensor that did not match."""
        lines = [f"pretrained load from {self.described_source}: {self.summary_line()}"]
        for m in self.mismatched:
            lines.append(f"  mismatched {m['name']}: model {m['model_shape']} vs file {m['file_shape']}")
        for m in self.missing:
            lines.append(f"  missing    {m['name']}: {m['shape']}")
        for m in self.unexpected:
            lines.append(f"  unexpected {m['name']}: {m['shape']}")
        return "\n".join(lines)


def compare_state_dicts(
    model_shapes: Mapping[str, tuple], file_shapes: Mapping[str, tuple], prefix: str = ENCODER_PREFIX, source: str = ""
) -> LoadReport:
    """Match file tensors (names without prefix) to model tensors under `prefix` by name and shape.

    Args:
        model_shapes: {model tensor name: shape} for the whole model.
        file_shapes: {pretrained tensor name: shape}, names relative to the encoder.
        prefix: where the encoder lives in the model.
        source: the file's name for the report.

    Returns:
        A LoadReport (parameter counts left at 0).
    """
    targets = {name[len(prefix) :]: tuple(shape) for name, shape in model_shapes.items() if name.startswith(prefix)}
    report = LoadReport(source=source, prefix=prefix, model_tensors=len(targets))
    for name in sorted(targets):
        model_shape = targets[name]
        if name not in file_shapes:
            report.missing.append({"name": prefix + name, "shape": list(model_shape)})
        elif tuple(file_shapes[name]) != model_shape:
            report.mismatched.append(
                {"name": prefix + name, "model_shape": list(model_shape), "file_shape": list(file_shapes[name])}
            )
        else:
            report.matched.append(prefix + name)
    for name in sorted(set(file_shapes) - set(targets)):
        report.unexpected.append({"name": name, "shape": list(file_shapes[name])})
    return report


def count_parameters(model: Any) -> tuple[int, int]:
    """(frozen, total) parameter counts of a torch module (requires_grad False = frozen)."""
    total = frozen = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if not parameter.requires_grad:
            frozen += parameter.numel()
    return frozen, total


def report_state_dict_load(
    model: Any,
    file_state_dict: Mapping[str, Any],
    prefix: str = ENCODER_PREFIX,
    source: str = "",
    fold: int | None = None,
) -> LoadReport:
    """Load the matching tensors of `file_state_dict` into `model` under `prefix` and report.

    Only tensors whose name and shape both match are copied; nothing else in the model changes
    except its "encoder is pretrained" flag (set when anything matched) and, for the frozen
    count, the first phase of its freeze schedule (`apply_freeze_schedule(0)`), which is the
    state training starts from anyway.

    Args:
        model: a torch module (MoolaModule).
        file_state_dict: tensors named relative to the encoder (`lstm.weight_ih_l0`, ...).
        prefix: where the encoder lives in the model.
        source: the file's name for the report.
        fold: which fold's encoder of the file `file_state_dict` is, for the report.

    Returns:
        The LoadReport, with parameter counts filled in.
    """
    model_state = model.state_dict()
    report = compare_state_dicts(
        {name: tuple(tensor.shape) for name, tensor in model_state.items()},
        {name: tuple(tensor.shape) for name, tensor in file_state_dict.items()},
        prefix=prefix,
        source=source,
    )
    if report.matched:
        selected = {name: file_state_dict[name[len(prefix) :]] for name in report.matched}
        outcome = model.load_state_dict(selected, strict=False)
        if outcome.unexpected_keys:  # cannot happen after the name check; a bug if it does
            raise RuntimeError(f"unexpected keys after matching: {outcome.unexpected_keys}")
        if hasattr(model, "encoder_is_pretrained"):
            # MoolaModule's own flag: its freeze schedule treats a loaded encoder differently.
            model.mark_encoder_pretrained()
    if hasattr(model, "apply_freeze_schedule"):
        model.apply_freeze_schedule(0)
    report.frozen_parameters, report.total_parameters = count_parameters(model)
    report.fold = fold
    return report


def fold_loads_record(reports: list) -> dict | None:
    """The training record's (and manifest's) `load_report`: the last fold's figures, as before, and
    `folds`, every fold's report in fold order; None when no fold loaded an encoder."""
    if all(report is None for report in reports):
        return None
    last = next(report for report in reversed(reports) if report is not None)
    return {**last.to_dict(), "folds": [None if report is None else report.to_dict() for report in reports]}


def read_encoder_checkpoint(path: str | os.PathLike) -> dict:
    """Read a TS2Vec encoder file (`moola.artifacts.encoder.FORMAT`) with weights_only=True.

    Returns:
        The checkpoint dict; each entry of its `folds` holds a `state_dict` of the encoder's tensors without prefix.
    """
    from moola.artifacts.encoder import read

    return read(path)
