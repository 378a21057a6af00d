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
    strategy: str = "walk_forward"  # forward_chaining | walk_forward | cpcv | stratified (random is refused: it leaks)
    train_fraction: float = 0.4  # share of windows, in time order, in the first fold's train part before purging
    val_fraction: float = 0.2  # share cut into val (walk_forward: of all folds together); test gets the rest
    purge: bool = True  # drop earlier-part windows whose [start, t1] reaches a later part
    embargo: str = "5D"  # pandas Timedelta: a later part starts only after the earlier last t1 + embargo
    n_folds: int = 3  # walk_forward: folds in time order, each with its own val and test block
    window: str = "expanding"  # walk_forward: expanding (all earlier rows train) | rolling (train_fraction of rows)
    n_groups: int = 6  # cpcv: time groups N
    n_test_groups: int = 2  # cpcv: groups tested per fold k (C(N, k) folds, C(N-1, k-1) paths)

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
        require(1 <= self.n_folds <= 50, "make_splits.n_folds", f"must be in 1..50, got {self.n_folds}")
        require(self.window in ("expanding", "rolling"), "make_splits.window", f"{self.window!r}: choose expanding or rolling")
        require(2 <= self.n_groups <= 20, "make_splits.n_groups", f"must be in 2..20, got {self.n_groups}")
        require(1 <= self.n_test_groups < self.n_groups, "make_splits.n_test_groups",
                f"must be in 1..n_groups - 1, got {self.n_test_groups}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="split name (overrides make_splits.name), written to data/splits/<name>.json")
    parser.add_argument("--strategy", help="forward_chaining | walk_forward | cpcv | stratified (overrides make_splits.strategy)")


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
        n_folds=settings.n_folds,
        window=settings.window,
        n_groups=settings.n_groups,
        n_test_groups=settings.n_test_groups,
    )
    path, unchanged = split_artifact.write(registry.root, split, n_rows=int(labeled.meta["n"]))
    summary = "; ".join(
        f"fold {fold['index']}: train {fold['counts']['train']}, val {fold['counts']['val']}, "
        f"test {fold['counts']['test']}, purged {fold['counts']['purged']}"
        for fold in split["folds"]
    ) + (f"; {split['n_paths']} backtest paths" if split["strategy"] == "cpcv" else "")
    if unchanged:
        print(f"make-splits: {shown(path)} already holds this split ({summary}); left unchanged")
    else:
        print(
            f"make-splits: wrote {shown(path)} from labeled_windows/{version} "
            f"({settings.strategy}, purge {settings.purge}, embargo {settings.embargo}): {summary}"
        )
    return 0
