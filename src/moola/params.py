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
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_strict_loader())  # noqa: S506 (a SafeLoader)
    except _DuplicateKey as exc:
        raise MoolaError(f"{file} line {exc.line}: key {exc.key!r} appears twice in one section: keep one") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise MoolaError(f"{file} is not valid YAML{where}: fix the syntax") from None
    except RecursionError:
        raise MoolaError(f"{file} nests values too deeply to read: keep each section a flat mapping of keys") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MoolaError(f"{file} must be a mapping of sections (base:, build_windows:, ...)")
    for name, section in data.items():
        if not isinstance(name, str):
            raise MoolaError(f"{file}: section name {_shown(name)} is not a string: give sections names such as train")
        if name != "model" and section is not None and not isinstance(section, dict):
            raise MoolaError(
                f"{file}: section {name[:60]} is a {type(section).__name__}, not a mapping: "
                f"write it as `{name[:60]}:` followed by indented keys"
            )
    return data


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int):
        super().__init__(key)
        self.key, self.line = str(key)[:60], line


def _strict_loader() -> type:
    """yaml.SafeLoader that refuses a key written twice in one mapping (PyYAML keeps the last silently)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):  # noqa: ANN001 - PyYAML's signature
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
                    ) from None
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise _DuplicateKey(key, key_node.start_mark.line + 1)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


# Integers beyond this are refused: numpy and torch take 64-bit values, seeds 32-bit ones.
MAX_INT = 2**63 - 1


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
        raise MoolaError(errors[0] if errors else f"params key {key}: invalid value {_shown(value)}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise MoolaError(
                f"params key {key} = {_shown(value)} is not allowed: choose one of {', '.join(map(repr, allowed))}"
            )
        return value
    if origin in (list, tuple):
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise MoolaError(f"params key {key} must be a list, got {type(value).__name__} {_shown(value)}")
        return [_coerce(item, item_tp, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise MoolaError(f"params key {key} must be a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise MoolaError(f"params key {key} must be true or false, got {_shown(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MoolaError(f"params key {key} must be an integer, got {_shown(value)}")
        if abs(value) > MAX_INT:
            raise MoolaError(f"params key {key} = {_shown(value)} is out of range: give an integer below 2**63")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MoolaError(f"params key {key} must be a number, got {_shown(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = float("inf")
        if number != number or number in (float("inf"), float("-inf")):
            raise MoolaError(f"params key {key} = {_shown(value)} must be a finite number")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise MoolaError(f"params key {key} must be a string, got {_shown(value)}")
        if len(value) > 4096:
            raise MoolaError(f"params key {key} is a string of {len(value):,} characters: give at most 4096")
        return value
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, key)
    raise MoolaError(f"params key {key}: unsupported type {_type_name(tp)}")


def _key_shown(key: Any) -> str:
    """A key as messages show it: plain when it is a short printable string, else its cut repr."""
    if isinstance(key, str) and key.isprintable() and key.strip() == key and key and len(key) <= 60:
        return key
    return _shown(key)


def _shown(value: Any) -> str:
    """A value as messages show it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    unknown = sorted(set(mapping) - set(fields), key=str)
    if unknown:
        raise MoolaError(
            f"unknown params key {prefix}.{_key_shown(unknown[0])}: "
            f"known keys are {', '.join(sorted(fields))}"
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
        require(0 <= self.seed < 2**32, "base.seed", f"must be in 0 .. 2**32 - 1 (numpy's seed range), got {_shown(self.seed)}")
        require(self.threads >= 0, "base.threads", f"must be >= 0, got {self.threads}")


def load_base(params: dict[str, Any] | None = None) -> BaseParams:
    """Read the `base:` section."""
    return load_section(BaseParams, "base", params)


def labeled_version(params: dict[str, Any]) -> str:
    """`build_windows.version`, the labeled version every data stage works on."""
    import re

    section = params.get("build_windows")
    version = section.get("version") if isinstance(section, dict) else None
    if not isinstance(version, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", version):
        raise MoolaError(f"params key build_windows.version = {str(version)[:40]!r} must be a folder name such as v1")
    return version
