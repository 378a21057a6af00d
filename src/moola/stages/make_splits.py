"""Stage `make_splits` (`moola make-splits`): write data/splits/<name>.json for a labeled version."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

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
        from moola.data.splits import parse_embargo, refuse_unknown_strategy  # the split's own rules

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="split name (overrides make_splits.name), written to data/splits/<name>.json")
    parser.add_argument("--strategy", help="forward_chaining | stratified (overrides make_splits.strategy)")


def run(args: argparse.Namespace) -> int:
    from moola.codedeps import code_version
    from moola.artifacts import split as split_artifact
    from moola.artifacts.common import shown
    from moola.data.registry import DataRegistry
    from moola.data.splits import build_split
    from moola.params import from_mapping, labeled_version, load_base, load_params

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
        code=code_version("make_splits"),
    )
    path, unchanged = split_artifact.write(registry.root, split, n_rows=int(labeled.meta["n"]))
    counts = split["counts"]
    summary = f"train {counts['train']}, val {counts['val']}, test {counts['test']}, purged {counts['purged']}"
    if unchanged:
        print(f"make-splits: {shown(path)} already holds this split ({summary}); left unchanged")
    else:
        print(
            f"make-splits: wrote {shown(path)} from labeled_windows/{version} "
            f"({settings.strategy}, purge {settings.purge}, embargo {settings.embargo}): {summary}"
        )
    return 0
