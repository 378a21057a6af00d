"""params.yaml: safe loading and strict, typed sections.

Each stage declares its section as a dataclass with commented defaults and reads it with
`load_section`. Unknown keys, wrong types and out-of-range values fail loudly with the key's
full name, so a typo in `dvc exp run -S` never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from moola.errors import MoolaError
from moola.paths import project_root

T = TypeVar("T")

PARAMS_FILE = "params.yaml"


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """Read params.yaml with `yaml.safe_load`; a missing or malformed file is a one-line error."""
    import yaml

    file = Path(path) if path is not None else project_root() / PARAMS_FILE
    if not file.is_file():
        raise MoolaError(f"params file not found: {file} (run moola from the project folder)")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise MoolaError(f"{file} is not valid YAML{where}: fix the syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MoolaError(f"{file} must be a mapping of sections (base:, build_windows:, ...)")
    return data


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except MoolaError as exc:
                errors.append(str(exc))
        raise MoolaError(errors[0] if errors else f"params key {key}: invalid value {value!r}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise MoolaError(
                f"params key {key} = {value!r} is not allowed: choose one of {', '.join(map(repr, allowed))}"
            )
        return value
    if origin in (list, tuple):
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise MoolaError(f"params key {key} must be a list, got {type(value).__name__} {value!r}")
        return [_coerce(item, item_tp, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise MoolaError(f"params key {key} must be a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise MoolaError(f"params key {key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MoolaError(f"params key {key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MoolaError(f"params key {key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise MoolaError(f"params key {key} must be a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, key)
    raise MoolaError(f"params key {key}: unsupported type {_type_name(tp)}")


def from_mapping(cls: type[T], mapping: Any, prefix: str) -> T:
    """Build dataclass `cls` from a mapping, refusing unknown keys and wrong types.

    Args:
        cls: a dataclass whose fields have defaults (the documented defaults).
        mapping: the section as read from YAML (None means "all defaults").
        prefix: the section's dotted name, for messages ("train", "adapter_lstm").

    Returns:
        An instance of `cls`; its optional `validate()` method is called last.
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise MoolaError(f"params section {prefix} must be a mapping, got {type(mapping).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise MoolaError(
            f"unknown params key {prefix}.{unknown[0]}: known keys are {', '.join(sorted(fields))}"
        )
    values = {name: _coerce(mapping[name], hints[name], f"{prefix}.{name}") for name in mapping}
    try:
        obj = cls(**values)
    except TypeError as exc:
        raise MoolaError(f"params section {prefix}: {exc}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def load_section(cls: type[T], name: str, params: dict[str, Any] | None = None) -> T:
    """Read section `name` of params.yaml (or of `params`) into dataclass `cls`."""
    params = load_params() if params is None else params
    return from_mapping(cls, params.get(name), name)


def require(condition: bool, key: str, message: str) -> None:
    """Raise a one-line params error unless `condition` holds (used in `validate()`)."""
    if not condition:
        raise MoolaError(f"params key {key}: {message}")


@dataclasses.dataclass
class BaseParams:
    """Shared settings (section `base:`)."""

    seed: int = 1337  # global seed; every random draw derives from it
    device: typing.Literal["auto", "cpu", "cuda"] = "auto"  # auto picks CUDA when present
    require_gpu: bool = False  # fail at start-up when no GPU is visible (always on for a pod)
    threads: int = 0  # torch intra-op threads; 0 = leave torch's default

    def validate(self) -> None:
        require(self.seed >= 0, "base.seed", f"must be >= 0, got {self.seed}")
        require(self.threads >= 0, "base.threads", f"must be >= 0, got {self.threads}")


def load_base(params: dict[str, Any] | None = None) -> BaseParams:
    """Read the `base:` section."""
    return load_section(BaseParams, "base", params)


@dataclasses.dataclass
class PodParams:
    """GPU pod jobs (section `pod:`, read by `moola pod run`; no stage reads it, so no rerun)."""

    state_upload_minutes: float = 5.0  # copy a running stage's resumable state to the remote at most this often; 0 = every save

    def validate(self) -> None:
        require(self.state_upload_minutes >= 0, "pod.state_upload_minutes",
                f"must be >= 0, got {self.state_upload_minutes}")


def load_pod(params: dict[str, Any] | None = None) -> PodParams:
    """Read the `pod:` section (all defaults when it is absent)."""
    return load_section(PodParams, "pod", params)
