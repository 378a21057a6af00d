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

from typing import Any

import numpy as np
import pandas as pd

from moola.artifacts.split import STRATEGIES, refuse_unknown_strategy  # noqa: F401 (the rule lives there)
from moola.errors import MoolaError
from moola.timespans import conflicting_rows, iso, parse_duration, to_nanoseconds  # noqa: F401

PARTS = ("train", "val", "test")
ALL_PARTS = ("train", "val", "test", "purged")
TRAIN, VAL, TEST, PURGED = 0, 1, 2, 3



def parse_embargo(text: Any, where: str = "params key make_splits.embargo") -> pd.Timedelta:
    """The embargo as a Timedelta: `moola.timespans.parse_duration` with the split's bounds."""
    return parse_duration(text, where, example="'5D', '12h' or '0D'")


def _check_spans(starts: np.ndarray, t1s: np.ndarray) -> None:
    bad = np.flatnonzero(t1s < starts)
    if bad.size:
        row = int(bad[0])
        raise MoolaError(
            f"window row {row}: label horizon end t1 {iso(t1s[row])} is before its start {iso(starts[row])}: "
            "rebuild the labeled windows"
        )


def _embargo_later_rows(part: np.ndarray, starts, t1s, boundary: int, embargo_ns: int) -> None:
    """Move rows of parts after `boundary` that start within the embargo to PURGED (in place)."""
    earlier = part <= boundary
    if not earlier.any():
        return
    last_t1 = int(t1s[earlier].max())
    inside = (part > boundary) & (part != PURGED) & (starts <= last_t1 + embargo_ns)
    part[inside] = PURGED


def forward_chaining_parts(
    starts: np.ndarray,
    t1s: np.ndarray,
    train_fraction: float,
    val_fraction: float,
    purge: bool,
    embargo: pd.Timedelta,
) -> np.ndarray:
    """Assign each window to train, val, test or purged by forward chaining (see module docstring).

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
    starts = np.asarray(starts, dtype=np.int64)
    t1s = np.asarray(t1s, dtype=np.int64)
    _check_spans(starts, t1s)
    n = starts.size
    part = np.full(n, TEST, dtype=np.int8)
    if n == 0:
        return part
    order = np.lexsort((np.arange(n), t1s, starts))  # by start, then t1, then row
    n_train = int(round(n * train_fraction))
    n_train_val = int(round(n * (train_fraction + val_fraction)))
    # Cut on start *times*: a tie straddling a cut moves whole into the later part.
    val_cut = starts[order[n_train]] if n_train < n else np.iinfo(np.int64).max
    test_cut = starts[order[n_train_val]] if n_train_val < n else np.iinfo(np.int64).max
    part[starts < test_cut] = VAL
    part[starts < val_cut] = TRAIN
    embargo_ns = int(embargo.value)
    for boundary in (TRAIN, VAL):
        later = (part > boundary) & (part != PURGED)
        if purge and later.any():
            first_later_start = starts[later].min()
            part[(part == boundary) & (t1s >= first_later_start)] = PURGED
        _embargo_later_rows(part, starts, t1s, boundary, embargo_ns)
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
    _check_spans(starts, t1s)
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
) -> dict[str, Any]:
    """Build the split document of `docs/ARCHITECTURE.md` for one labeled version.

    Args:
        name: split name (file stem under data/splits/).
        windows: the labeled `windows.parquet` frame (needs `start` and `t1`).
        labels: (N,) int64 labels (used by `stratified` and for class counts).
        labeled_meta: the labeled folder's meta.json (`version`, `fingerprint`).
        strategy: forward_chaining | stratified.
        train_fraction, val_fraction: shares; test gets the rest.
        purge: forward_chaining only: purge earlier rows whose span reaches a later part.
        embargo: pandas Timedelta string.
        seed: shuffle seed (stratified only; recorded as None for forward_chaining).
        code: `moola.codedeps.code_version("make_splits")`.

    Returns:
        The split as a JSON-ready dict; raises MoolaError when a part would be empty.
    """
    refuse_unknown_strategy(strategy, "params key make_splits.strategy")
    gap = parse_embargo(embargo)
    starts = to_nanoseconds(windows["start"])
    t1s = to_nanoseconds(windows["t1"])
    labels = np.asarray(labels, dtype=np.int64)
    if strategy == "forward_chaining":
        part = forward_chaining_parts(starts, t1s, train_fraction, val_fraction, purge, gap)
    else:
        if not purge:
            raise MoolaError(
                "params key make_splits.purge is false but strategy stratified always purges "
                "(its parts interleave in time): set purge: true"
            )
        part = stratified_parts(starts, t1s, labels, train_fraction, val_fraction, gap, seed)
    version = labeled_meta.get("version")
    for code_value, part_name in ((TRAIN, "train"), (VAL, "val"), (TEST, "test")):
        if not (part == code_value).any():
            raise MoolaError(
                f"split {name!r} of labeled_windows/{version}: the {part_name} part is empty after purge "
                f"and embargo ({part.size} windows, {int((part == PURGED).sum())} purged): lower "
                "make_splits.embargo, change the fractions or label more windows"
            )
    indices = {part_name: np.flatnonzero(part == code_value).tolist() for code_value, part_name in enumerate(ALL_PARTS)}
    return {
        "name": name,
        "purge_days": gap.value / 86_400e9,
        "labeled_version": version,
        "labeled_fingerprint": labeled_meta.get("fingerprint"),
        "strategy": strategy,
        "time_ordered": strategy == "forward_chaining",
        "purge": bool(purge),
        "embargo": embargo,
        "train_fraction": float(train_fraction),
        "val_fraction": float(val_fraction),
        "seed": int(seed) if strategy == "stratified" else None,
        **{f"{part_name}_indices": rows for part_name, rows in indices.items()},
        "counts": {part_name: len(indices[part_name]) for part_name in ALL_PARTS},
        "class_counts": _class_counts(labels, indices, labeled_meta["class_names"]),
        "time_ranges": {part_name: _time_range(starts, t1s, indices[part_name]) for part_name in ALL_PARTS},
        "created_by": "moola make-splits",
        # Derived from the data, never the clock, so a rebuild is byte-identical.
        "timestamp": iso(int(t1s.max())) if t1s.size else None,
        "code": code or {},
    }


def _class_counts(labels: np.ndarray, indices: dict[str, list[int]], class_names: list[str]) -> dict[str, dict[str, int]]:
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
