"""Purged, embargoed time folds of a labeled window set: walk-forward, purged k-fold and CPCV.

Every window i occupies the span [start_i, t1_i] (first bar to label horizon end). The rule that
every fold obeys, whichever strategy made it, and that `fold_problems` checks: for a row a in one
of the parts train, val, test and a row b in another,

    start_b > t1_a + embargo   or   start_a > t1_b + embargo

so no train span overlaps, or comes within the embargo of, a val or test span (and val keeps
the same distance from test). Rows that would break it go to the fold's `purged` rows; rows a
fold does not use (after its test block in walk-forward, before a rolling train window) are its
`unused` rows.

Walk-forward (`walk_forward`, k folds). Rows are sorted by (start, t1, row). The first
`train_fraction` of them is the initial train block; the rest is cut into k equal held-out
blocks in time order, and block i is cut into a val part (its first `val_fraction / k` of all
rows) and a test part (the rest of the block). Fold i trains on every row before block i
(`window="expanding"`) or on the `train_fraction` of rows just before it (`window="rolling"`),
validates on block i's val part and tests on its test part. Cuts fall on start times (a tie
straddling a cut moves whole into the later part). Purge and embargo then run exactly as in
`moola.data.splits.forward_chaining_parts`: at the train|val boundary, then at val|test,
(a) purge: an earlier-part row whose t1 reaches the first start of a later part is purged;
(b) embargo: a later-part row starting at or before the last kept earlier t1 + embargo is
purged. With k = 1 this is the single forward-chaining split, index for index.

Purged k-fold (`purged_kfold`, López de Prado, Advances in Financial Machine Learning, ch. 7).
Rows in time order are cut into k contiguous blocks of (nearly) equal size (cuts on start times,
as in CPCV's groups). Fold i tests every row of block i; test rows are never purged, so the k
folds together test every window exactly once. Its val part (for early stopping) is the
`val_fraction` share of all rows nearest block i on one side: the end of the rows before it (for
block 0: the start of the rows after it); val rows that conflict with the test block under the
embargo are purged. Train is every other row, less those that conflict with a test or a kept
val span, before or after it. The blocks are the plan's groups and its single path is fold i
supplying block i. Why training after a test block is acceptable: docs/DATA_LINEAGE.md.

CPCV (`cpcv`, López de Prado, Advances in Financial Machine Learning, ch. 12). Rows in time
order are cut into N groups of (nearly) equal size; every choice of k test groups is a fold, so
there are C(N, k) folds. A fold's test part is the union of its k groups; its train part is
every other row, less the rows purged around each test group: a train row whose span comes
within the embargo of any test span, before or after it (AFML embargoes only the rows after a
test group; embargoing both sides costs a few rows and lets one rule check every strategy).
CPCV folds have no val part. Each group is tested in C(N-1, k-1) folds, so the folds assemble
phi(N, k) = k / N * C(N, k) = C(N-1, k-1) backtest paths: the j-th fold (in lexicographic order
of the combinations) that tests group g supplies group g of path j.

Everything here is pure numpy on int64 nanosecond times; nothing touches the disk.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from moola.errors import MoolaError
from moola.timespans import check_spans, conflicting_rows, iso, to_nanoseconds

FOLD_PARTS = ("train", "val", "test", "purged", "unused")
TRAIN, VAL, TEST, PURGED, UNUSED = 0, 1, 2, 3, 4
WINDOWS = ("expanding", "rolling")


@dataclasses.dataclass(frozen=True)
class Fold:
    """One fold: sorted row indices of each part (int64 arrays), and for CPCV its test groups.

    Attributes:
        index: the fold's number, 0-based, in time order (walk-forward, purged k-fold) or
            combination order (CPCV).
        train, val, test: rows of the parts (val is empty for CPCV).
        purged: rows dropped by purge or embargo.
        unused: rows outside the fold (walk-forward: after its test part, or before a rolling window).
        test_groups: CPCV: the groups tested; purged k-fold: (i,); walk-forward: ().
    """

    index: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    purged: np.ndarray
    unused: np.ndarray
    test_groups: tuple[int, ...] = ()

    def part(self, name: str) -> np.ndarray:
        """The rows of part `name` (one of FOLD_PARTS)."""
        return getattr(self, name)

    def counts(self) -> dict[str, int]:
        """Rows per part."""
        return {name: int(self.part(name).size) for name in FOLD_PARTS}

    def summary(self, starts: Any, t1s: Any, labels: Any = None, class_names: Sequence[str] | None = None) -> dict:
        """The fold as JSON-ready fields: index lists, counts, time ranges, class counts.

        Args:
            starts, t1s: (N,) window times (int64 ns or datetime-like).
            labels: (N,) int labels, or None (then no class counts).
            class_names: names in class-index order (default: "0", "1", ...).

        Returns:
            {"index", "test_groups", <part>: [rows], "counts", "time_ranges", "class_counts"?}.
        """
        starts, t1s = _as_ns(starts), _as_ns(t1s)
        result: dict[str, Any] = {"index": self.index, "test_groups": list(self.test_groups)}
        for name in FOLD_PARTS:
            result[name] = self.part(name).tolist()
        result["counts"] = self.counts()
        result["time_ranges"] = {name: _time_range(starts, t1s, self.part(name)) for name in FOLD_PARTS}
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int64)
            n_classes = len(class_names) if class_names else int(labels.max(initial=-1)) + 1
            names = list(class_names) if class_names else [str(k) for k in range(n_classes)]
            result["class_counts"] = {
                name: dict(zip(names, np.bincount(labels[self.part(name)], minlength=n_classes).tolist(), strict=False))
                for name in FOLD_PARTS
            }
        return result


@dataclasses.dataclass(frozen=True)
class FoldPlan:
    """All folds of one strategy, and (CPCV) its groups and backtest paths.

    Attributes:
        strategy: "walk_forward", "purged_kfold" or "cpcv".
        folds: the folds.
        groups: CPCV: (N,) arrays of the rows of each group, in time order; purged k-fold: its k
            blocks; walk-forward: ().
        paths: CPCV: (phi, N) int array, paths[p, g] = the fold whose test of group g is in path p;
            walk-forward and purged k-fold: shape (1, k), the single path made of every fold's test part.
    """

    strategy: str
    folds: tuple[Fold, ...]
    groups: tuple[np.ndarray, ...] = ()
    paths: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))

    @property
    def n_paths(self) -> int:
        return int(self.paths.shape[0])

    def summary(self, starts: Any, t1s: Any, labels: Any = None, class_names: Sequence[str] | None = None) -> dict:
        """The plan as JSON-ready fields for a split file's `folds` block.

        Args:
            starts, t1s, labels, class_names: as in `Fold.summary`.

        Returns:
            {"strategy", "n_folds", "n_paths", "groups" (CPCV: row lists), "paths" (fold per
            path and group), "folds": [Fold.summary, ...]}.
        """
        return {
            "strategy": self.strategy,
            "n_folds": len(self.folds),
            "n_paths": self.n_paths,
            "groups": [group.tolist() for group in self.groups],
            "paths": self.paths.tolist(),
            "folds": [fold.summary(starts, t1s, labels, class_names) for fold in self.folds],
        }


def _as_ns(values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    return to_nanoseconds(values)


def _time_range(starts: np.ndarray, t1s: np.ndarray, rows: np.ndarray) -> dict[str, str] | None:
    if rows.size == 0:
        return None
    return {"start": iso(int(starts[rows].min())), "end": iso(int(t1s[rows].max()))}


def _checked_times(starts: Any, t1s: Any) -> tuple[np.ndarray, np.ndarray]:
    starts, t1s = _as_ns(starts), _as_ns(t1s)
    check_spans(starts, t1s)
    return starts, t1s


def _time_order(starts: np.ndarray, t1s: np.ndarray) -> np.ndarray:
    return np.lexsort((np.arange(starts.size), t1s, starts))  # by start, then t1, then row


def _cut_time(starts: np.ndarray, order: np.ndarray, position: int) -> int:
    """Start time at which the cut before sorted position `position` falls (int64 max past the end)."""
    return int(starts[order[position]]) if position < order.size else int(np.iinfo(np.int64).max)


def _purge_and_embargo(part: np.ndarray, starts: np.ndarray, t1s: np.ndarray, purge: bool, embargo_ns: int) -> None:
    """Forward-chaining purge and embargo at the train|val then val|test boundary (in place, UNUSED ignored)."""
    for boundary in (TRAIN, VAL):
        later = (part > boundary) & (part <= TEST)
        if purge and later.any():
            first_later_start = starts[later].min()
            part[(part == boundary) & (t1s >= first_later_start)] = PURGED
        earlier = part <= boundary
        if earlier.any():
            last_t1 = int(t1s[earlier].max())
            inside = (part > boundary) & (part <= TEST) & (starts <= last_t1 + embargo_ns)
            part[inside] = PURGED


def fold_from_codes(index: int, part: np.ndarray, test_groups: tuple[int, ...] = ()) -> Fold:
    rows = {name: np.flatnonzero(part == code).astype(np.int64) for code, name in enumerate(FOLD_PARTS)}
    return Fold(index=index, test_groups=test_groups, **rows)


def walk_forward(
    starts: Any,
    t1s: Any,
    n_folds: int,
    train_fraction: float,
    val_fraction: float,
    embargo: pd.Timedelta,
    purge: bool = True,
    window: Literal["expanding", "rolling"] = "expanding",
) -> FoldPlan:
    """Walk-forward folds in time order, purged and embargoed (see the module docstring).

    Args:
        starts: (N,) first bar of each window (int64 ns or datetime-like), any row order.
        t1s: (N,) label horizon end of each window (>= start).
        n_folds: k >= 1; k = 1 is `moola.data.splits.forward_chaining_parts`.
        train_fraction: share of rows, in time order, in the first fold's train part (0, 1).
        val_fraction: share of all rows in the val parts together; each fold gets val_fraction / k.
        embargo: minimum gap after an earlier part's last t1 before a later part may start.
        purge: drop earlier-part rows whose span reaches a later part (else the embargo alone
            drops the later part's first rows).
        window: "expanding" (train = every row before the fold's block) or "rolling" (train =
            the train_fraction of rows just before it).

    Returns:
        A FoldPlan of k folds with a single path (their test parts, in time order).
    """
    starts, t1s = _checked_times(starts, t1s)
    if not isinstance(n_folds, (int, np.integer)) or isinstance(n_folds, bool) or n_folds < 1:
        raise MoolaError(f"walk_forward: n_folds must be an integer >= 1, got {n_folds!r}")
    if window not in WINDOWS:
        raise MoolaError(f"walk_forward: window {window!r} is unknown: choose expanding or rolling")
    if not (0 < train_fraction < 1 and 0 <= val_fraction and train_fraction + val_fraction < 1):
        raise MoolaError(
            f"walk_forward: train_fraction {train_fraction} and val_fraction {val_fraction} must satisfy "
            "0 < train_fraction, 0 <= val_fraction and train_fraction + val_fraction < 1"
        )
    n = starts.size
    order = _time_order(starts, t1s)
    block = (1.0 - train_fraction) / n_folds
    n_initial_train = int(round(n * train_fraction))
    embargo_ns = int(embargo.value)
    folds = []
    for i in range(n_folds):
        # The same float expressions as forward_chaining_parts when k = 1 (i * block = 0.0 exactly).
        block_start = train_fraction + i * block
        n_train_end = int(round(n * block_start))
        n_val_end = int(round(n * (block_start + val_fraction / n_folds)))
        n_test_end = n if i == n_folds - 1 else int(round(n * (train_fraction + (i + 1) * block)))
        val_cut = _cut_time(starts, order, n_train_end)
        test_cut = _cut_time(starts, order, n_val_end)
        end_cut = _cut_time(starts, order, n_test_end)
        part = np.full(n, UNUSED, dtype=np.int8)
        part[starts < end_cut] = TEST
        part[starts < test_cut] = VAL
        part[starts < val_cut] = TRAIN
        if window == "rolling" and n_train_end > n_initial_train:
            first_cut = _cut_time(starts, order, n_train_end - n_initial_train)
            part[starts < first_cut] = UNUSED
        _purge_and_embargo(part, starts, t1s, purge, embargo_ns)
        folds.append(fold_from_codes(i, part))
    paths = np.arange(n_folds, dtype=np.int64)[None, :]  # (1, k)
    return FoldPlan(strategy="walk_forward", folds=tuple(folds), paths=paths)


def n_backtest_paths(n_groups: int, n_test_groups: int) -> int:
    """phi(N, k) = k / N * C(N, k) = C(N - 1, k - 1), the number of CPCV backtest paths (AFML 12.4)."""
    return math.comb(n_groups - 1, n_test_groups - 1)


def time_groups(
    starts: Any, t1s: Any, n_groups: int, strategy: str = "cpcv", knob: str = "n_groups"
) -> tuple[np.ndarray, ...]:
    """Cut the rows in time order into `n_groups` groups of nearly equal size, ties kept together.

    Args:
        starts, t1s: (N,) window times.
        n_groups: N >= 2.
        strategy, knob: the strategy and the make_splits key named when a group would be empty.

    Returns:
        N sorted int64 arrays of row indices; raises MoolaError when a group would be empty.
    """
    starts, t1s = _checked_times(starts, t1s)
    order = _time_order(starts, t1s)
    n = starts.size
    cuts = [_cut_time(starts, order, int(round(n * g / n_groups))) for g in range(1, n_groups)]
    group_of = np.searchsorted(np.asarray(cuts, dtype=np.int64), starts, side="right")  # (N,) 0..N-1
    groups = tuple(np.flatnonzero(group_of == g).astype(np.int64) for g in range(n_groups))
    empty = [g for g, rows in enumerate(groups) if rows.size == 0]
    if empty:
        raise MoolaError(
            f"{strategy}: group {empty[0]} of {n_groups} is empty ({n} windows, many sharing a start time): "
            f"lower make_splits.{knob} or label more windows"
        )
    return groups


def _val_rows(starts: np.ndarray, order: np.ndarray, blocks: tuple[np.ndarray, ...], i: int, n_val: int) -> np.ndarray:
    """Rows of block i's val part: the n_val rows nearest it on one side (before it; block 0: after it).

    Blocks are contiguous in time order. The far cut falls on a start time like every other cut
    (`starts < cut`), so a tie that straddles it moves whole into the later part.
    """
    if i > 0:
        first = sum(block.size for block in blocks[:i])  # sorted position of block i's first row
        lower = _cut_time(starts, order, max(0, first - n_val))
        return np.flatnonzero((starts >= lower) & (starts < _cut_time(starts, order, first)))
    after = blocks[0].size
    upper = _cut_time(starts, order, min(order.size, after + n_val))
    return np.flatnonzero((starts >= _cut_time(starts, order, after)) & (starts < upper))


def purged_kfold(starts: Any, t1s: Any, n_folds: int, val_fraction: float, embargo: pd.Timedelta) -> FoldPlan:
    """Purged, embargoed k-fold over contiguous time blocks (AFML ch. 7; see the module docstring).

    Args:
        starts, t1s: (N,) window times, any row order.
        n_folds: k >= 2 blocks, each tested by one fold.
        val_fraction: share of all rows in each fold's val part, taken next to its test block.
        embargo: minimum gap between a train span and any val or test span, and between val and test.

    Returns:
        A FoldPlan of k folds, the k blocks as its groups, and the single path (1, k) in which
        fold i tests block i: every row is tested exactly once.
    """
    starts, t1s = _checked_times(starts, t1s)
    if not isinstance(n_folds, (int, np.integer)) or isinstance(n_folds, bool) or n_folds < 2:
        raise MoolaError(f"purged_kfold: n_folds must be an integer >= 2, got {n_folds!r}")
    if not 0 <= val_fraction < 1 - 1 / n_folds:
        raise MoolaError(
            f"purged_kfold: val_fraction {val_fraction} must lie in [0, 1 - 1/n_folds) = [0, {1 - 1 / n_folds:g}) "
            "so that each fold keeps train rows"
        )
    blocks = time_groups(starts, t1s, n_folds, strategy="purged_kfold", knob="n_folds")
    order = _time_order(starts, t1s)
    n, embargo_ns = starts.size, int(embargo.value)
    n_val = int(round(n * val_fraction))
    folds = []
    for i, test_rows in enumerate(blocks):
        part = np.full(n, TRAIN, dtype=np.int8)
        part[test_rows] = TEST
        val_rows = _val_rows(starts, order, blocks, i, n_val)
        part[val_rows] = VAL
        clash = conflicting_rows(starts[val_rows], t1s[val_rows], starts[test_rows], t1s[test_rows], embargo_ns)
        part[val_rows[clash]] = PURGED
        held_out = np.flatnonzero((part == VAL) | (part == TEST))
        train_rows = np.flatnonzero(part == TRAIN)
        clash = conflicting_rows(starts[train_rows], t1s[train_rows], starts[held_out], t1s[held_out], embargo_ns)
        part[train_rows[clash]] = PURGED
        folds.append(fold_from_codes(i, part, (i,)))
    paths = np.arange(n_folds, dtype=np.int64)[None, :]  # (1, k): fold i supplies block i
    return FoldPlan(strategy="purged_kfold", folds=tuple(folds), groups=blocks, paths=paths)


def cpcv(
    starts: Any,
    t1s: Any,
    n_groups: int,
    n_test_groups: int,
    embargo: pd.Timedelta,
) -> FoldPlan:
    """Combinatorial purged cross-validation (AFML ch. 12; see the module docstring).

    Args:
        starts, t1s: (N,) window times, any row order.
        n_groups: N >= 2 time groups.
        n_test_groups: k, 1 <= k < N, groups tested per fold.
        embargo: minimum gap between a train span and any test span, on both sides.

    Returns:
        A FoldPlan with C(N, k) folds, the N groups, and the (phi(N, k), N) path table.
    """
    starts, t1s = _checked_times(starts, t1s)
    if not (isinstance(n_groups, (int, np.integer)) and isinstance(n_test_groups, (int, np.integer))):
        raise MoolaError(f"cpcv: n_groups {n_groups!r} and n_test_groups {n_test_groups!r} must be integers")
    if not (n_groups >= 2 and 1 <= n_test_groups < n_groups):
        raise MoolaError(
            f"cpcv: need n_groups >= 2 and 1 <= n_test_groups < n_groups, got N = {n_groups}, k = {n_test_groups}"
        )
    groups = time_groups(starts, t1s, n_groups)
    embargo_ns = int(embargo.value)
    n = starts.size
    folds = []
    occurrences = np.zeros(n_groups, dtype=np.int64)
    paths = np.full((n_backtest_paths(n_groups, n_test_groups), n_groups), -1, dtype=np.int64)
    for index, combination in enumerate(itertools.combinations(range(n_groups), n_test_groups)):
        part = np.full(n, TRAIN, dtype=np.int8)
        test_rows = np.concatenate([groups[g] for g in combination])
        part[test_rows] = TEST
        train_rows = np.flatnonzero(part == TRAIN)
        # Purge and embargo around each test group on its own: the gaps between test groups
        # are train time, and a train row between two test groups must clear both.
        for g in combination:
            hits = conflicting_rows(starts[train_rows], t1s[train_rows], starts[groups[g]], t1s[groups[g]], embargo_ns)
            part[train_rows[hits]] = PURGED
        folds.append(fold_from_codes(index, part, tuple(combination)))
        for g in combination:
            paths[occurrences[g], g] = index
            occurrences[g] += 1
    return FoldPlan(strategy="cpcv", folds=tuple(folds), groups=groups, paths=paths)


def fold_problems(starts: Any, t1s: Any, fold: Fold, embargo: pd.Timedelta) -> list[str]:
    """Every way a fold breaks the fold rule (empty list = valid): the split artifact's own rule.

    Args:
        starts, t1s: (N,) window times of the labeled set the fold indexes.
        fold: the fold to check.
        embargo: the embargo the fold claims.

    Returns:
        One short sentence per problem, naming the fold and a row.
    """
    from moola.artifacts import split as split_artifact

    starts, t1s = _as_ns(starts), _as_ns(t1s)
    doc = {f"{name}_indices": np.asarray(fold.part(name)).tolist() for name in FOLD_PARTS}
    doc["counts"] = {name: len(doc[f"{name}_indices"]) for name in FOLD_PARTS}
    windows = {"start": pd.to_datetime(starts, utc=True), "t1": pd.to_datetime(t1s, utc=True)}
    faults = split_artifact.fold_problems(
        doc, starts.size, windows, int(embargo.value), str(embargo), val_required=False
    )
    return [f"fold {fold.index}: {fault}" for fault in faults]


def plan_problems(starts: Any, t1s: Any, plan: FoldPlan, embargo: pd.Timedelta) -> list[str]:
    """`fold_problems` of every fold, plus (CPCV, purged k-fold) the path table: each path tests each group once."""
    problems = [p for fold in plan.folds for p in fold_problems(starts, t1s, fold, embargo)]
    if plan.groups:
        n_groups = len(plan.groups)
        for p, row in enumerate(plan.paths):
            for g, fold_index in enumerate(row):
                if not (0 <= fold_index < len(plan.folds)) or g not in plan.folds[fold_index].test_groups:
                    problems.append(f"path {p}: group {g} comes from fold {int(fold_index)}, which does not test it")
        if plan.paths.shape != (len(plan.paths), n_groups):
            problems.append(f"the path table has shape {plan.paths.shape}, not (paths, {n_groups})")
    return problems
