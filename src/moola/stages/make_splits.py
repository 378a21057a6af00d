"""Stage `make_splits` (`moola make-splits`): write data/splits/<name>.json for a labeled version."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any

from moola.errors import MoolaError
from moola.params import require

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class MakeSplitsParams:
    """Section `make_splits:` of params.yaml."""

    name: str = "fwd_chain_v3"  # data/splits/<name>.json; an existing name is never rewritten
    strategy: str = "forward_chaining"  # forward_chaining | stratified (random is refused: it leaks)
    train_fraction: float = 0.6  # share of windows, in time order, cut into train before purging
    val_fraction: float = 0.2  # share cut into val; test gets the rest
    purge: bool = True  # drop earlier-part windows whose [start, t1] reaches a later part
    embargo: str = "5D"  # pandas Timedelta: a later part starts only after the earlier last t1 + embargo

    def validate(self) -> None:
        from moola.data.splits import parse_embargo, refuse_unknown_strategy

        require(
            bool(NAME_PATTERN.match(self.name)) and not self.name.endswith(".json"),
            "make_splits.name",
            f"{self.name!r} must be a plain file stem of letters, digits, '_', '-' or '.' (no folder, no .json)",
        )
        refuse_unknown_strategy(self.strategy, "params key make_splits.strategy")
        require(
            0 < self.train_fraction < 1, "make_splits.train_fraction", f"must lie in (0, 1), got {self.train_fraction}"
        )
        require(0 < self.val_fraction < 1, "make_splits.val_fraction", f"must lie in (0, 1), got {self.val_fraction}")
        require(
            self.train_fraction + self.val_fraction < 1,
            "make_splits.val_fraction",
            f"train_fraction + val_fraction = {self.train_fraction + self.val_fraction:g} leaves no test part: "
            "keep it below 1",
        )
        parse_embargo(self.embargo)


def labeled_version(params: dict[str, Any]) -> str:
    """Return `build_windows.version`, the labeled version every data stage works on."""
    section = params.get("build_windows")
    version = section.get("version") if isinstance(section, dict) else None
    if not isinstance(version, str) or not NAME_PATTERN.match(version):
        raise MoolaError(f"params key build_windows.version = {version!r} must be a folder name such as v1")
    return version


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="split name (overrides make_splits.name), written to data/splits/<name>.json")
    parser.add_argument("--strategy", help="forward_chaining | stratified (overrides make_splits.strategy)")


def run(args: argparse.Namespace) -> int:
    from moola import io
    from moola.data.registry import DataRegistry
    from moola.data.splits import build_split, split_content
    from moola.params import from_mapping, load_base, load_params
    from moola.paths import relative_to_root

    params = load_params()
    section = dict(params.get("make_splits") or {})
    for key in ("name", "strategy"):
        if getattr(args, key, None) is not None:
            section[key] = getattr(args, key)
    settings = from_mapping(MakeSplitsParams, section, "make_splits")
    base = load_base(params)
    version = labeled_version(params)

    registry = DataRegistry()
    labeled = registry.read_windows(version, "labeled")
    split = build_split(
        name=settings.name,
        windows=labeled.windows,
        labels=labeled.y,
        labeled_meta=labeled.meta,
        strategy=settings.strategy,
        train_fraction=settings.train_fraction,
        val_fraction=settings.val_fraction,
        purge=settings.purge,
        embargo=settings.embargo,
        seed=base.seed,
        code=io.code_version("data.splits", "stages.make_splits"),
    )
    target = registry.path_of(settings.name, "split")
    shown = relative_to_root(target)
    counts = split["counts"]
    summary = f"train {counts['train']}, val {counts['val']}, test {counts['test']}, purged {counts['purged']}"
    if target.exists():
        existing = io.read_json(target, shown)
        if isinstance(existing, dict) and split_content(existing) == split_content(split):
            print(f"make-splits: {shown} already holds this split ({summary}); left unchanged")
            return 0
        changed = _changed_fields(existing, split)
        raise MoolaError(
            f"split {shown} already exists with different content ({changed}): splits are never rewritten; "
            f"set make_splits.name to a new name (e.g. {_bumped(settings.name)}) and point synth_cache.split "
            "and train.split at it"
        )
    io.write_json(target, split)
    print(
        f"make-splits: wrote {shown} from labeled_windows/{version} "
        f"({settings.strategy}, purge {settings.purge}, embargo {settings.embargo}): {summary}"
    )
    return 0


def _changed_fields(existing: Any, new: dict[str, Any]) -> str:
    if not isinstance(existing, dict):
        return "the old file is not a split object"
    keys = sorted(k for k in set(existing) | set(new) if k != "code" and existing.get(k) != new.get(k))
    return "differs in " + ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")


def _bumped(name: str) -> str:
    match = re.match(r"^(.*?)(\d+)$", name)
    return f"{match.group(1)}{int(match.group(2)) + 1}" if match else f"{name}_v2"
