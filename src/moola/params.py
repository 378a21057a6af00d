"""params.yaml: safe loading and strict, typed sections.

Each stage declares its section as a dataclass with commented defaults and reads it with
`load_section`. Unknown keys, wrong types and out-of-range values fail loudly with the key's
full name, so a typo in `dvc exp run -S` never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from moola.errors import MoolaError
from moola.paths import project_root

T = TypeVar("T")

PARAMS_FILE = "params.yaml"


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """Read params.yaml with a `yaml.SafeLoader` that refuses duplicate keys; a bad file is a one-line error."""
    import yaml

    file = Path(path) if path is not None else project_root() / PARAMS_FILE
    if not file.is_file():
        raise MoolaError(f"params file not found: {file} (run moola from the project folder)")
    loader = None
    try:
        loader = _strict_loader()(file.read_text(encoding="utf-8"))  # a SafeLoader: plain data only
        data = loader.get_single_data()
    except _DuplicateKey as exc:
        raise MoolaError(f"{file} line {exc.line}: key {exc.key!r} appears twice in one section: keep one") from None
    except _Alias as exc:
        raise MoolaError(
            f"{file} line {exc.line}: YAML anchor or alias {exc.anchor!r}: write it out in full, key by key "
            "(`dvc exp run -S` rewrites the file as plain block YAML)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise MoolaError(f"{file} is not valid YAML{where}: fix the syntax") from None
    except RecursionError:
        raise MoolaError(f"{file} nests values too deeply to read: keep each section a flat mapping of keys") from None
    finally:
        if loader is not None:
            loader.dispose()
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


class _Alias(Exception):
    def __init__(self, anchor: str, line: int):
        super().__init__(anchor)
        self.anchor, self.line = anchor, line


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int):
        super().__init__(key)
        self.key, self.line = str(key)[:60], line


def _strict_loader() -> type:
    """yaml.SafeLoader that refuses a key written twice in one mapping (PyYAML keeps the last silently)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
            event = self.peek_event()
            if isinstance(event, yaml.events.AliasEvent) or getattr(event, "anchor", None):
                # refused before anything is expanded: an alias bomb never reaches memory
                raise _Alias(str(event.anchor)[:40], event.start_mark.line + 1)
            return super().compose_node(parent, index)

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
        require_choice(value, tp, key)
        return value
    if origin in (list, tuple):
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise MoolaError(f"params key {key} must be a list, got {type(value).__name__} {_shown(value)}")
        return [_coerce(item, item_tp, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise MoolaError(f"params key {key} must be a mapping, got {type(value).__name__}")
        key_tp, value_tp = typing.get_args(tp) or (Any, Any)
        return {
            _coerce(name, key_tp, f"{key} key {name!r}"): _coerce(item, value_tp, f"{key}.{name}")
            for name, item in value.items()
        }
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
            f"unknown params key {prefix}.{_key_shown(unknown[0])}: known keys are {', '.join(sorted(fields))}"
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
        require(
            0 <= self.seed < 2**32,
            "base.seed",
            f"must be in 0 .. 2**32 - 1 (numpy's seed range), got {_shown(self.seed)}",
        )
        require(self.threads >= 0, "base.threads", f"must be >= 0, got {self.threads}")


def require_choice(value: Any, choices: Any, key: str) -> None:
    """Refuse `value` unless it is one of the `Literal[...]` type `choices`, naming the params key."""
    allowed = typing.get_args(choices)
    if value not in allowed:
        raise MoolaError(
            f"params key {key} = {_shown(value)} is not allowed: choose one of {', '.join(map(repr, allowed))}"
        )


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


# ----- build_windows: --------------------------------------------------------------------------

BUILD_WINDOWS = "build_windows"
QUALITY_GRADES = ("A", "B", "C", "D")  # best first
MAX_GAP_LIMIT = "366D"  # a longer max_gap is a typo: no window straddles a year of missing bars
TRIPLE_BARRIER_CLASSES = ("down", "neutral", "up")  # the names the triple-barrier labeler declares
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _default_raw_files() -> list[str]:
    return ["SPX_1d.parquet", "IXIC_1d.parquet", "EURUSD_1h.parquet", "GOOG_1d.parquet"]


@dataclasses.dataclass
class BuildWindowsParams:
    """Section `build_windows:` of params.yaml."""

    version: str = "v1"  # folder name under data/labeled_windows/ and data/unlabeled_windows/
    raw_files: list[str] = dataclasses.field(
        default_factory=_default_raw_files
    )  # parquet names or globs under data/raw/
    symbols: dict[str, list[str]] = dataclasses.field(
        default_factory=dict
    )  # symbol -> file names/globs joined in time order
    window: int = 256  # bars per window T (>= 64, the longest feature look-back)
    labeled_stride: int = 150  # bars between labeled windows
    unlabeled_stride: int = 4  # bars between unlabeled windows
    labels: typing.Literal["triple_barrier", "file"] = "triple_barrier"  # how labeled windows get labels
    labels_file: str = ""  # CSV or parquet under data/raw/, path from data/ (symbol, end, label, ...) when labels: file
    classes: list[str] = dataclasses.field(default_factory=list)  # class names in code order; [] = as first seen
    min_quality: str = ""  # keep labeled rows graded this or better (A best .. D); '' = keep all
    max_gap: str = ""  # pandas Timedelta; windows straddling a longer gap between bars are dropped; '' = no limit
    barrier_k: float = 4.0  # barriers at +/- k * per-bar volatility target (about sqrt(horizon))
    horizon: int = 20  # vertical barrier, bars after the window end
    vol_span: int = 50  # EWM span (bars) of the return volatility target
    plot_examples: int = 3  # candlestick examples per class in plots/data/

    def validate(self) -> None:
        section = BUILD_WINDOWS
        check_version_name(self.version, f"{section}.version")
        require(bool(self.raw_files), f"{section}.raw_files", "list at least one parquet file under data/raw/")
        for i, name in enumerate(self.raw_files):
            _check_file_pattern(name, f"{section}.raw_files[{i}]")
        literal = [Path(name).stem for name in self.raw_files if not _is_glob(name)]
        duplicates = sorted({stem for stem in literal if literal.count(stem) > 1})
        require(not duplicates, f"{section}.raw_files", f"symbol {', '.join(duplicates)} is listed twice")
        for symbol, patterns in self.symbols.items():
            key = f"{section}.symbols.{symbol}"
            require(bool(_PLAIN_NAME.fullmatch(symbol)), key, "use a plain symbol name: letters, digits, '.', '_', '-'")
            require(bool(patterns), key, "give at least one file name or glob under data/raw/")
            for i, name in enumerate(patterns):
                _check_file_pattern(name, f"{key}[{i}]")
        require(
            self.window >= 2, f"{section}.window", f"must be >= 2 bars, got {self.window}"
        )  # the feature look-back: data.features.check_window
        require(self.labeled_stride >= 1, f"{section}.labeled_stride", f"must be >= 1, got {self.labeled_stride}")
        require(self.unlabeled_stride >= 1, f"{section}.unlabeled_stride", f"must be >= 1, got {self.unlabeled_stride}")
        require(self.barrier_k > 0, f"{section}.barrier_k", f"must be > 0, got {self.barrier_k}")
        require(self.horizon >= 1, f"{section}.horizon", f"must be >= 1 bar, got {self.horizon}")
        require(
            2 <= self.vol_span < self.window,
            f"{section}.vol_span",
            f"= {self.vol_span} must be >= 2 and < window ({self.window}), so every window end has a volatility target",
        )
        require(self.plot_examples >= 0, f"{section}.plot_examples", f"must be >= 0, got {self.plot_examples}")
        self._validate_classes()
        require(
            self.min_quality in ("",) + QUALITY_GRADES,
            f"{section}.min_quality",
            f"= {self.min_quality!r} is not a grade: use one of {', '.join(QUALITY_GRADES)} (A best) or '' to keep all",
        )
        self.max_gap_ns()
        if self.labels == "file":
            require(
                bool(self.labels_file),
                f"{section}.labels_file",
                "is empty but labels is 'file': name the CSV or parquet file under data/ (e.g. raw/labels.csv)",
            )
            _check_labels_file_is_raw(self.labels_file, f"{section}.labels_file")
        else:
            require(
                not self.min_quality,
                f"{section}.min_quality",
                "grades come from a labels file: set labels: file or leave min_quality ''",
            )

    def _validate_classes(self) -> None:
        key = f"{BUILD_WINDOWS}.classes"
        if not self.classes:
            return
        if self.labels == "triple_barrier":
            require(
                tuple(self.classes) == TRIPLE_BARRIER_CLASSES,
                key,
                f"the triple-barrier labeler declares its own classes ({', '.join(TRIPLE_BARRIER_CLASSES)}): "
                "leave classes [] or set labels: file",
            )
        require(len(self.classes) >= 2, key, f"lists {len(self.classes)} class: a classifier needs at least two")
        for i, name in enumerate(self.classes):
            require(
                bool(name.strip()) and name == name.strip(),
                f"{key}[{i}]",
                f"{name!r} must be a non-blank name without edge spaces",
            )
            require(not name.lstrip("-").isdigit(), f"{key}[{i}]", f"{name!r} looks like a class code: use a word")
        repeated = sorted({name for name in self.classes if self.classes.count(name) > 1})
        require(not repeated, key, f"names {', '.join(repeated)} more than once: keep each name once")

    def max_gap_ns(self) -> int | None:
        """max_gap in nanoseconds, or None when '' (no limit)."""
        if not self.max_gap:
            return None
        import pandas as pd

        from moola.timespans import parse_duration

        key = f"{BUILD_WINDOWS}.max_gap"
        gap = parse_duration(self.max_gap, f"params key {key}", example="'90min', '2h' or '3D'")
        require(gap > pd.Timedelta(0), key, f"= {self.max_gap!r} must be > 0 (or '' for no limit)")
        require(
            gap <= pd.Timedelta(MAX_GAP_LIMIT),
            key,
            f"= {self.max_gap!r} is longer than {MAX_GAP_LIMIT}: use '' for no limit",
        )
        return int(gap.value)


def _is_glob(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def _check_file_pattern(name: str, key: str) -> None:
    require(name.endswith(".parquet"), key, f"{name!r} must be a .parquet file (or a glob ending in .parquet)")
    require("@" not in name, key, f"{name!r}: '@' is reserved for window ids")
    require(
        not Path(name).is_absolute() and ".." not in Path(name).parts,
        key,
        f"{name!r} is absolute or contains '..': use file names or globs relative to data/raw/",
    )


def _check_labels_file_is_raw(name: str, key: str) -> None:
    """A labels file lives under data/raw/: dvc.yaml makes build_windows depend on that folder.

    A file elsewhere would be read without being a dependency, so editing it would leave the
    labeled version stale while `dvc status` says up to date. Absolute paths and '..' are left
    to `moola.paths.resolve_inside`, which refuses them.
    """
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if PurePosixPath(name).is_absolute() or ".." in parts:
        return
    require(
        len(parts) >= 2 and parts[0] == "raw",
        key,
        f"{name!r} lies outside data/raw/, the folder build_windows depends on in dvc.yaml, so edits to it would "
        "leave the labeled version stale: move it into data/raw/ and set labels_file: "
        f"raw/{parts[-1] if parts else 'labels.csv'}",
    )


def check_version_name(version: str, key: str) -> None:
    """Refuse a version that is not a plain folder name (letters, digits, . _ -)."""
    require(
        bool(_PLAIN_NAME.fullmatch(version)),
        key,
        f"{version!r} is not a plain folder name: use letters, digits, '.', '_' or '-' (e.g. v2)",
    )


@dataclasses.dataclass
class PodParams:
    """GPU pod jobs (section `pod:`, read by `moola pod run`; no stage reads it, so no rerun)."""

    state_upload_minutes: float = (
        5.0  # copy a running stage's resumable state to the remote at most this often; 0 = every save
    )

    def validate(self) -> None:
        require(
            self.state_upload_minutes >= 0, "pod.state_upload_minutes", f"must be >= 0, got {self.state_upload_minutes}"
        )


def load_pod(params: dict[str, Any] | None = None) -> PodParams:
    """Read the `pod:` section (all defaults when it is absent)."""
    return load_section(PodParams, "pod", params)
