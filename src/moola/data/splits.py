"""Leak-free train/val/test splits of a labeled window set: forward chaining with purge and embargo.

Every labeled window i occupies the calendar span [start_i, t1_i]: its first bar up to the end of
its label horizon. Two windows leak into each other when those spans overlap, whatever their
symbols (markets move together), so all rules below compare spans across symbols.

Forward chaining (`forward_chaining`, time-ordered):

1. Cut by time. All windows are sorted by (start, t1, row). The train part is the first
   `train_fraction` of them, val the next `val_fraction`, test the rest; the cuts fall on start
   times, and windows sharing a start time always land in the same part, so every train start is
   earlier than every val start, which is earlier than every test start.
2. Purge (`purge: true`). A window of an earlier part whose span reaches the first start of any
   later part (t1_i >= min start of the later parts) goes to `purged`.
3. Embargo (a pandas Timedelta, e.g. `5D`). Let L be the latest t1 of the rows kept so far in
   the earlier parts. A row of a later part may only start strictly after L + embargo; rows that
   start at or before it go to `purged`.

Steps 2 and 3 run at the train|val boundary, then at the val|test boundary::

    time ─────────────────────────────────────────────────────────────────────►
    train   [====]  [=====]   [====x====]              x = span reaches the val start: purged
    val                               |cut  [~~~]  [=====]   [=====]
                             last train t1 ┘└ embargo ┘ [~~~] starts inside the embargo: purged

Guarantee (checked again by `moola.artifacts.split.problems`): for rows a in an earlier part and b in a later
part, start_b > t1_a + embargo, so no train span overlaps a val or test span. With
`purge: false` step 2 is skipped and step 3 alone enforces the guarantee by dropping the later
part's early rows instead of the earlier part's late ones.

Stratified (`stratified`, not time-ordered): within each class the rows are shuffled with the
seed and dealt out by the fractions; then val rows that come within the embargo of any test row
(start_b <= t1_a + embargo and start_a <= t1_b + embargo) are purged, then train rows that come
within the embargo of any kept val or test row. It is deterministic, always purges, and is
marked `time_ordered: false`.

`random` and any other strategy are refused: a random split of overlapping windows puts
near-copies of test windows into train and inflates every metric.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from moola.artifacts.split import STRATEGIES, refuse_unknown_strategy  # noqa: F401 (the rule lives there)
from moola.errors import MoolaError
from moola.params import require
from moola.timespans import check_spans, conflicting_rows, iso, parse_duration, to_nanoseconds  # noqa: F401

PARTS = ("train", "val", "test")
ALL_PARTS = ("train", "val", "test", "purged", "unused")
TRAIN, VAL, TEST, PURGED = 0, 1, 2, 3


def parse_embargo(text: Any, where: str = "params key make_splits.embargo") -> pd.Timedelta:
    """The embargo as a Timedelta: `moola.timespans.parse_duration` with the split's bounds."""
    return parse_duration(text, where, example="'5D', '12h' or '0D'")


def forward_chaining_parts(
    starts: np.ndarray,
    t1s: np.ndarray,
    train_fraction: float,
    val_fraction: float,
    purge: bool,
    embargo: pd.Timedelta,
) -> np.ndarray:
    """Assign each window to train, val, test or purged by forward chaining (see module docstring).

    The single forward-chaining split is walk-forward with one fold (`moola.data.folds`).

    Args:
        starts: (N,) int64 nanoseconds, first bar of each window.
        t1s: (N,) int64 nanoseconds, label horizon end of each window (>= start).
        train_fraction: share of windows, in time order, cut into train (before purging).
        val_fraction: share cut into val; test gets the rest.
        purge: drop earlier-part rows whose span reaches a later part.
        embargo: minimum gap after an earlier part's last t1 before a later part may start.

    Returns:
        (N,) int8 part codes: 0 train, 1 val, 2 test, 3 purged.
    """
    from moola.data import folds as fold_rules

    starts = np.asarray(starts, dtype=np.int64)
    t1s = np.asarray(t1s, dtype=np.int64)
    check_spans(starts, t1s)
    part = np.full(starts.size, TEST, dtype=np.int8)
    if starts.size == 0:
        return part
    (fold,) = fold_rules.walk_forward(starts, t1s, 1, train_fraction, val_fraction, embargo, purge=purge).folds
    for code, name in enumerate(("train", "val", "test", "purged")):
        part[fold.part(name)] = code
    return part


def stratified_parts(
    starts: np.ndarray,
    t1s: np.ndarray,
    labels: np.ndarray,
    train_fraction: float,
    val_fraction: float,
    embargo: pd.Timedelta,
    seed: int,
) -> np.ndarray:
    """Assign windows by a seeded per-class deal, then purge conflicts (see module docstring).

    Args:
        starts, t1s: (N,) int64 nanoseconds.
        labels: (N,) int class of each window.
        train_fraction, val_fraction: shares per class; test gets the rest.
        embargo: minimum gap between a train span and any val/test span (and val vs test).
        seed: seed of the shuffle.

    Returns:
        (N,) int8 part codes: 0 train, 1 val, 2 test, 3 purged.
    """
    starts = np.asarray(starts, dtype=np.int64)
    t1s = np.asarray(t1s, dtype=np.int64)
    labels = np.asarray(labels)
    check_spans(starts, t1s)
    part = np.full(starts.size, TEST, dtype=np.int8)
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        rows = rows[rng.permutation(rows.size)]
        n_train = int(round(rows.size * train_fraction))
        n_train_val = int(round(rows.size * (train_fraction + val_fraction)))
        part[rows[:n_train]] = TRAIN
        part[rows[n_train:n_train_val]] = VAL
    gap = int(embargo.value)
    test = part == TEST
    val = part == VAL
    part[val & _conflicts(part == VAL, test, starts, t1s, gap)] = PURGED
    held_out = (part == VAL) | (part == TEST)
    part[(part == TRAIN) & _conflicts(part == TRAIN, held_out, starts, t1s, gap)] = PURGED
    return part


def _conflicts(rows_a: np.ndarray, rows_b: np.ndarray, starts, t1s, gap: int) -> np.ndarray:
    """(N,) bool: rows in mask A conflicting with any row in mask B."""
    result = np.zeros(starts.size, dtype=bool)
    result[rows_a] = conflicting_rows(starts[rows_a], t1s[rows_a], starts[rows_b], t1s[rows_b], gap)
    return result


def build_split(
    name: str,
    windows: pd.DataFrame,
    labels: np.ndarray,
    labeled_meta: dict[str, Any],
    strategy: str,
    train_fraction: float,
    val_fraction: float,
    purge: bool,
    embargo: str,
    seed: int,
    code: dict[str, str] | None = None,
    n_folds: int = 1,
    window: str = "expanding",
    n_groups: int = 6,
    n_test_groups: int = 2,
) -> dict[str, Any]:
    """Build the split document of `moola.artifacts.split` for one labeled version.

    Args:
        name: split name (file stem under data/splits/).
        windows: the labeled `windows.parquet` frame (needs `start` and `t1`).
        labels: (N,) int64 labels (used by `stratified` and for class counts).
        labeled_meta: the labeled folder's meta.json (`version`, `fingerprint`, `class_names`).
        strategy: forward_chaining | walk_forward | purged_kfold | cpcv | stratified.
        train_fraction, val_fraction: shares (see MakeSplitsParams); test gets the rest.
        purge: walk-forward strategies: purge earlier rows whose span reaches a later part.
        embargo, seed: pandas Timedelta string; shuffle seed (stratified only, else None).
        code: `moola.codedeps.code_version("make_splits")`.
        n_folds: walk_forward: k folds (forward_chaining is k = 1); purged_kfold: k time blocks.
        window: walk_forward: expanding | rolling train window.
        n_groups, n_test_groups: cpcv: N time groups, k test groups per fold.

    Returns:
        The split as a JSON-ready dict; raises MoolaError when a part of a fold would be empty
        (purged_kfold: also when a fold's train part lacks a class).
    """
    refuse_unknown_strategy(strategy, "params key make_splits.strategy")
    gap = parse_embargo(embargo)
    starts = to_nanoseconds(windows["start"])
    t1s = to_nanoseconds(windows["t1"])
    labels = np.asarray(labels, dtype=np.int64)
    class_names = list(labeled_meta["class_names"])
    plan, extra = _fold_plan(
        strategy,
        starts,
        t1s,
        labels,
        train_fraction,
        val_fraction,
        purge,
        gap,
        seed,
        n_folds,
        window,
        n_groups,
        n_test_groups,
    )
    for fold in plan.folds:
        _refuse_unusable_fold(
            fold,
            strategy,
            labels,
            class_names,
            f"split {name!r} of labeled_windows/{labeled_meta.get('version')}",
            starts.size,
        )
    fold_docs = [_fold_doc(fold, starts, t1s, labels, class_names) for fold in plan.folds]
    default = fold_docs[-1]
    walks_forward = strategy in ("forward_chaining", "walk_forward")
    return {
        "name": name,
        "labeled_version": labeled_meta.get("version"),
        "labeled_fingerprint": labeled_meta.get("fingerprint"),
        "strategy": strategy,
        "time_ordered": walks_forward,
        "purge": bool(purge) if walks_forward else True,
        "embargo": embargo,
        "purge_days": gap.value / 86_400e9,
        "train_fraction": None if strategy == "purged_kfold" else float(train_fraction),  # None: not read
        "val_fraction": float(val_fraction),
        "seed": int(seed) if strategy == "stratified" else None,
        **{key: default[key] for key in default if key.endswith("_indices")},
        "counts": default["counts"],
        "class_counts": default["class_counts"],
        "time_ranges": default["time_ranges"],
        "n_folds": len(fold_docs),
        "n_paths": plan.n_paths,
        "groups": [group.tolist() for group in plan.groups],
        "paths": plan.paths.tolist(),
        "folds": fold_docs,
        **extra,
        "created_by": "moola make-splits",
        # Derived from the data, never the clock, so a rebuild is byte-identical.
        "timestamp": iso(int(t1s.max())) if t1s.size else None,
        "code": code or {},
    }


def _fold_plan(
    strategy,
    starts,
    t1s,
    labels,
    train_fraction,
    val_fraction,
    purge,
    gap,
    seed,
    n_folds,
    window,
    n_groups,
    n_test_groups,
) -> tuple[Any, dict[str, Any]]:
    """The strategy's FoldPlan and the strategy-specific fields of the split document."""
    from moola.data import folds as fold_rules

    if strategy in ("forward_chaining", "walk_forward"):
        k = 1 if strategy == "forward_chaining" else n_folds
        plan = fold_rules.walk_forward(starts, t1s, k, train_fraction, val_fraction, gap, purge=purge, window=window)
        extra = {"n_folds_requested": int(n_folds), "window": window} if strategy == "walk_forward" else {}
        return plan, extra
    if strategy == "cpcv":
        plan = fold_rules.cpcv(starts, t1s, n_groups, n_test_groups, gap)
        return plan, {"n_groups": int(n_groups), "n_test_groups": int(n_test_groups)}
    refuse_no_purge(strategy, purge)
    if strategy == "purged_kfold":
        return fold_rules.purged_kfold(starts, t1s, n_folds, val_fraction, gap), {"n_folds_requested": int(n_folds)}
    codes = stratified_parts(starts, t1s, labels, train_fraction, val_fraction, gap, seed)
    plan = fold_rules.FoldPlan(
        strategy="stratified", folds=(fold_rules.fold_from_codes(0, codes),), paths=np.zeros((1, 1), dtype=np.int64)
    )
    return plan, {}


def refuse_no_purge(strategy: str, purge: bool) -> None:
    """Strategies whose train part lies on both sides of val and test cannot skip the purge."""
    if not purge and strategy in ("purged_kfold", "stratified"):
        raise MoolaError(
            f"params key make_splits.purge is false but strategy {strategy} always purges "
            "(its train part lies on both sides of val and test): set purge: true"
        )


def _refuse_unusable_fold(fold, strategy: str, labels: np.ndarray, class_names: list[str], where: str, n: int) -> None:
    """One line when a part of the fold is empty, or (purged_kfold) its train part lacks a class."""
    for part_name in ("train", "test") if strategy == "cpcv" else ("train", "val", "test"):
        if fold.part(part_name).size == 0:
            raise MoolaError(
                f"{where}: the {part_name} part of fold {fold.index} is empty "
                f"after purge and embargo ({n} windows, {fold.purged.size} purged): lower "
                "make_splits.embargo, use fewer folds, change the fractions or label more windows"
            )
    if strategy != "purged_kfold":
        return
    present = np.unique(labels)
    missing = present[~np.isin(present, labels[fold.train])]
    if missing.size:
        raise MoolaError(
            f"{where}: the train part of fold {fold.index} holds no window of class "
            f"{class_names[int(missing[0])]!r} ({missing.size} class(es) absent after purge and embargo): "
            "change make_splits.n_folds, lower val_fraction or embargo, or label more windows of that class"
        )


def _fold_doc(fold, starts: np.ndarray, t1s: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """One entry of the split document's `folds` list."""
    indices = {part_name: fold.part(part_name).tolist() for part_name in ALL_PARTS}
    return {
        "index": fold.index,
        "test_groups": list(fold.test_groups),
        **{f"{part_name}_indices": rows for part_name, rows in indices.items()},
        "counts": {part_name: len(rows) for part_name, rows in indices.items()},
        "class_counts": _class_counts(labels, indices, class_names),
        "time_ranges": {part_name: _time_range(starts, t1s, rows) for part_name, rows in indices.items()},
    }


def _class_counts(
    labels: np.ndarray, indices: dict[str, list[int]], class_names: list[str]
) -> dict[str, dict[str, int]]:
    names = list(class_names)
    counts = {}
    for part_name, rows in indices.items():
        values = labels[np.asarray(rows, dtype=np.int64)] if rows else np.zeros(0, dtype=np.int64)
        counts[part_name] = {class_name: int((values == k).sum()) for k, class_name in enumerate(names)}
    return counts


def _time_range(starts: np.ndarray, t1s: np.ndarray, rows: list[int]) -> dict[str, str] | None:
    if not rows:
        return None
    picked = np.asarray(rows, dtype=np.int64)
    return {"start": iso(int(starts[picked].min())), "end": iso(int(t1s[picked].max()))}


# cpcv writes C(n_groups, n_test_groups) folds and every later stage trains one model per fold.
MAX_CPCV_FOLDS = 1000
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class MakeSplitsParams:
    """Section `make_splits:` of params.yaml."""

    name: str = "fwd_chain_v3"  # data/splits/<name>.json; an existing name is never rewritten
    # forward_chaining | walk_forward | purged_kfold | cpcv | stratified (random is refused: it leaks)
    strategy: str = "purged_kfold"
    train_fraction: float = (
        0.4  # share of windows, in time order, in the first fold's train part (purged_kfold, cpcv: unused)
    )
    val_fraction: float = 0.2  # share cut into val (walk_forward: of all folds together; purged_kfold: per fold)
    purge: bool = True  # drop earlier-part windows whose [start, t1] reaches a later part
    embargo: str = "5D"  # pandas Timedelta: a later part starts only after the earlier last t1 + embargo
    n_folds: int = (
        5  # walk_forward: folds in time order, each with its own val and test block; purged_kfold: time blocks
    )
    window: str = "expanding"  # walk_forward: expanding (all earlier rows train) | rolling (train_fraction of rows)
    n_groups: int = 6  # cpcv: time groups N
    n_test_groups: int = 2  # cpcv: groups tested per fold k (C(N, k) folds, C(N-1, k-1) paths)

    def validate(self) -> None:
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
            self.train_fraction + self.val_fraction < 1 or self.strategy == "purged_kfold",
            "make_splits.val_fraction",
            f"train_fraction + val_fraction = {self.train_fraction + self.val_fraction:g} leaves no test part: "
            "keep it below 1",
        )
        parse_embargo(self.embargo)
        require(1 <= self.n_folds <= 50, "make_splits.n_folds", f"must be in 1..50, got {self.n_folds}")
        refuse_no_purge(self.strategy, self.purge)
        if self.strategy == "purged_kfold":
            require(
                self.n_folds >= 2,
                "make_splits.n_folds",
                f"purged_kfold needs at least 2 time blocks, got {self.n_folds}",
            )
            require(
                self.val_fraction < 1 - 1 / self.n_folds,
                "make_splits.val_fraction",
                f"{self.val_fraction} leaves no train rows with {self.n_folds} folds: keep it below 1 - 1/n_folds "
                f"= {1 - 1 / self.n_folds:g}",
            )
        require(
            self.window in ("expanding", "rolling"),
            "make_splits.window",
            f"{self.window!r}: choose expanding or rolling",
        )
        require(2 <= self.n_groups <= 20, "make_splits.n_groups", f"must be in 2..20, got {self.n_groups}")
        require(
            1 <= self.n_test_groups < self.n_groups,
            "make_splits.n_test_groups",
            f"must be in 1..n_groups - 1, got {self.n_test_groups}",
        )
        folds = math.comb(self.n_groups, self.n_test_groups)
        require(
            self.strategy != "cpcv" or folds <= MAX_CPCV_FOLDS,
            "make_splits.n_test_groups",
            f"C({self.n_groups}, {self.n_test_groups}) = {folds:,} cpcv folds is more than {MAX_CPCV_FOLDS:,} "
            "(every later stage trains one model per fold): lower n_groups or n_test_groups",
        )
