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

Guarantee (checked again by `split_problems`): for rows a in an earlier part and b in a later
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

from typing import Any, Iterable

import numpy as np
import pandas as pd

from moola.errors import MoolaError

PARTS = ("train", "val", "test")
ALL_PARTS = ("train", "val", "test", "purged")
TRAIN, VAL, TEST, PURGED = 0, 1, 2, 3
STRATEGIES = ("forward_chaining", "stratified")
CREATED_BY = "moola make-splits"

# Fields whose change does not change what a split *is*: the code hash moves with every edit
# under src/moola/data, yet an identical assignment must not be refused as a rewrite.
_NON_CONTENT_FIELDS = ("code",)

_REQUIRED_FIELDS = (
    "name",
    "labeled_version",
    "labeled_fingerprint",
    "strategy",
    "time_ordered",
    "purge",
    "embargo",
    "train",
    "val",
    "test",
    "purged",
    "counts",
    "time_ranges",
    "created_by",
    "timestamp",
)


def refuse_unknown_strategy(strategy: Any, where: str) -> None:
    """Raise unless `strategy` is a supported, leak-free split strategy.

    Args:
        strategy: the strategy as written in params.yaml, on the command line or in a split file.
        where: what holds it ("params key make_splits.strategy", "split file data/splits/x.json").
    """
    if strategy in STRATEGIES:
        return
    if isinstance(strategy, str) and strategy.lower() in ("random", "shuffle", "kfold", "random_kfold"):
        raise MoolaError(
            f"{where}: {strategy!r} is refused: overlapping windows in a random split put "
            "near-copies of test windows into train and inflate every metric; "
            "use forward_chaining (or stratified, which still purges)"
        )
    raise MoolaError(f"{where}: unknown split strategy {strategy!r}: choose forward_chaining or stratified")


def parse_embargo(text: Any, where: str = "params key make_splits.embargo") -> pd.Timedelta:
    """Parse a non-negative pandas Timedelta string such as ``5D``, ``12h`` or ``0D``.

    Args:
        text: the embargo as written.
        where: what holds it, for the error message.

    Returns:
        The embargo as a `pandas.Timedelta`.
    """
    if not isinstance(text, str) or not any(ch.isalpha() for ch in text):
        # pandas reads a bare '5' as 5 nanoseconds: demand a unit so nobody gets that by accident
        raise MoolaError(f"{where} = {text!r} must be a pandas Timedelta string with a unit, such as '5D' or '12h'")
    try:
        value = pd.Timedelta(text)
    except (ValueError, TypeError):
        raise MoolaError(f"{where} = {text!r} is not a pandas Timedelta: write e.g. '5D', '12h' or '0D'") from None
    if pd.isna(value) or value < pd.Timedelta(0):
        raise MoolaError(f"{where} = {text!r} must be zero or positive, e.g. '5D' or '0D'")
    return value


def to_nanoseconds(values: Any) -> np.ndarray:
    """Return timestamps as int64 nanoseconds since the epoch, UTC (naive values count as UTC)."""
    index = pd.DatetimeIndex(values)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit("ns").asi8.copy()


def _iso(nanoseconds: int) -> str:
    return pd.Timestamp(int(nanoseconds), unit="ns", tz="UTC").isoformat()


def _check_spans(starts: np.ndarray, t1s: np.ndarray) -> None:
    bad = np.flatnonzero(t1s < starts)
    if bad.size:
        row = int(bad[0])
        raise MoolaError(
            f"window row {row}: label horizon end t1 {_iso(t1s[row])} is before its start {_iso(starts[row])}: "
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


def conflicting_rows(starts_a, t1s_a, starts_b, t1s_b, gap_ns: int = 0) -> np.ndarray:
    """Mark rows of set A whose span comes within `gap_ns` of any span of set B.

    Spans [s_a, t_a] and [s_b, t_b] conflict unless s_b > t_a + gap or s_a > t_b + gap (with
    gap 0: unless they are disjoint). Runs in O((|A| + |B|) log |B|).

    Args:
        starts_a, t1s_a: (n_a,) int64 nanoseconds of set A.
        starts_b, t1s_b: (n_b,) int64 nanoseconds of set B.
        gap_ns: the embargo in nanoseconds (>= 0).

    Returns:
        (n_a,) bool, True where the row of A conflicts with at least one row of B.
    """
    starts_a = np.asarray(starts_a, dtype=np.int64)
    t1s_a = np.asarray(t1s_a, dtype=np.int64)
    result = np.zeros(starts_a.size, dtype=bool)
    if starts_a.size == 0 or len(starts_b) == 0:
        return result
    order = np.argsort(np.asarray(starts_b, dtype=np.int64), kind="stable")
    sorted_starts = np.asarray(starts_b, dtype=np.int64)[order]
    latest_t1_so_far = np.maximum.accumulate(np.asarray(t1s_b, dtype=np.int64)[order])
    # B rows starting no later than t_a + gap are candidates; one of them conflicts when the
    # latest t1 among them reaches s_a - gap.
    n_candidates = np.searchsorted(sorted_starts, t1s_a + gap_ns, side="right")
    has = n_candidates > 0
    result[has] = latest_t1_so_far[n_candidates[has] - 1] + gap_ns >= starts_a[has]
    return result


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
        code: `moola.io.code_version(...)` of the code that made it.

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
        "labeled_version": version,
        "labeled_fingerprint": labeled_meta.get("fingerprint"),
        "strategy": strategy,
        "time_ordered": strategy == "forward_chaining",
        "purge": bool(purge),
        "embargo": embargo,
        "train_fraction": float(train_fraction),
        "val_fraction": float(val_fraction),
        "seed": int(seed) if strategy == "stratified" else None,
        **indices,
        "counts": {part_name: len(indices[part_name]) for part_name in ALL_PARTS},
        "class_counts": _class_counts(labels, indices, labeled_meta.get("class_names")),
        "time_ranges": {part_name: _time_range(starts, t1s, indices[part_name]) for part_name in ALL_PARTS},
        "created_by": CREATED_BY,
        # Derived from the data, never the clock, so a rebuild is byte-identical.
        "timestamp": _iso(int(t1s.max())) if t1s.size else None,
        "code": code or {},
    }


def _class_counts(labels: np.ndarray, indices: dict[str, list[int]], class_names: Any) -> dict[str, dict[str, int]]:
    names = list(class_names) if isinstance(class_names, list) and class_names else ["down", "neutral", "up"]
    counts = {}
    for part_name, rows in indices.items():
        values = labels[np.asarray(rows, dtype=np.int64)] if rows else np.zeros(0, dtype=np.int64)
        counts[part_name] = {class_name: int((values == k).sum()) for k, class_name in enumerate(names)}
    return counts


def _time_range(starts: np.ndarray, t1s: np.ndarray, rows: list[int]) -> dict[str, str] | None:
    if not rows:
        return None
    picked = np.asarray(rows, dtype=np.int64)
    return {"start": _iso(int(starts[picked].min())), "end": _iso(int(t1s[picked].max()))}


def split_content(split: dict[str, Any]) -> dict[str, Any]:
    """The part of a split document that defines it (everything except the code hash)."""
    return {key: value for key, value in split.items() if key not in _NON_CONTENT_FIELDS}


def _index_list_problem(values: Any, part_name: str, n_rows: int) -> str | None:
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return f"{part_name} must be a list of integer row indices"
    if any(v < 0 or v >= n_rows for v in values):
        bad = next(v for v in values if v < 0 or v >= n_rows)
        return f"{part_name} holds row {bad}, outside the labeled set's rows 0..{n_rows - 1}"
    if any(b <= a for a, b in zip(values, values[1:])):
        return f"{part_name} is not a sorted list of distinct rows"
    return None


def split_problems(
    split: Any,
    n_rows: int,
    fingerprint: str | None = None,
    version: str | None = None,
    windows: pd.DataFrame | None = None,
) -> list[str]:
    """List every way a split document disagrees with its labeled set (empty list = valid).

    Checks: required fields, strategy (random refused), index lists (integers, sorted, in range,
    disjoint, covering every row exactly once including purged), counts, labeled version and
    fingerprint, and, given `windows`, the time guarantees (time-ordered: start_b > t1_a +
    embargo for every later part b; stratified: no train/val/test spans within the embargo).

    Args:
        split: the parsed split JSON.
        n_rows: number of rows of the labeled arrays.
        fingerprint: the labeled meta.json fingerprint the split must name (None: not checked).
        version: the labeled version the split must name (None: not checked).
        windows: the labeled windows.parquet frame (None: time guarantees not checked).

    Returns:
        One short sentence per problem.
    """
    if not isinstance(split, dict):
        return ["the split file must hold a JSON object"]
    missing = [field for field in _REQUIRED_FIELDS if field not in split]
    if missing:
        return [f"missing field(s) {', '.join(missing)}"]
    problems: list[str] = []
    try:
        refuse_unknown_strategy(split["strategy"], "strategy")
    except MoolaError as exc:
        problems.append(str(exc))
        return problems
    if split["time_ordered"] is not (split["strategy"] == "forward_chaining"):
        problems.append(f"time_ordered is {split['time_ordered']!r} but strategy is {split['strategy']}")
    if version is not None and split["labeled_version"] != version:
        problems.append(f"it was made for labeled_windows/{split['labeled_version']}, not labeled_windows/{version}")
    if fingerprint is not None and split["labeled_fingerprint"] != fingerprint:
        problems.append(
            f"its labeled_fingerprint {str(split['labeled_fingerprint'])[:12]} does not match the labeled set's "
            f"{fingerprint[:12]} (the data changed since the split was made)"
        )
    index_problems = [p for p in (_index_list_problem(split[name], name, n_rows) for name in ALL_PARTS) if p]
    problems.extend(index_problems)
    if index_problems:
        return problems
    seen = np.zeros(n_rows, dtype=np.int64)
    for part_name in ALL_PARTS:
        seen[np.asarray(split[part_name], dtype=np.int64)] += 1
    if (seen > 1).any():
        row = int(np.flatnonzero(seen > 1)[0])
        holders = [name for name in ALL_PARTS if row in split[name]]
        problems.append(f"row {row} is in more than one part ({', '.join(holders)})")
    if (seen == 0).any():
        rows = np.flatnonzero(seen == 0)
        problems.append(f"{rows.size} labeled row(s) are in no part (first: row {int(rows[0])})")
    for part_name in PARTS:
        if not split[part_name]:
            problems.append(f"the {part_name} part is empty")
    counts = split["counts"]
    if not isinstance(counts, dict) or any(counts.get(name) != len(split[name]) for name in ALL_PARTS):
        problems.append("counts do not match the index lists")
    try:
        gap = parse_embargo(split["embargo"], "embargo")
    except MoolaError as exc:
        problems.append(str(exc))
        return problems
    if windows is not None and not problems:
        problems.extend(_time_problems(split, windows, int(gap.value)))
    return problems


def _time_problems(split: dict[str, Any], windows: pd.DataFrame, gap: int) -> list[str]:
    starts = to_nanoseconds(windows["start"])
    t1s = to_nanoseconds(windows["t1"])
    rows = {name: np.asarray(split[name], dtype=np.int64) for name in PARTS}
    problems = []
    if split["time_ordered"]:
        for i, earlier in enumerate(PARTS[:-1]):
            last_t1 = int(t1s[rows[earlier]].max())
            for later in PARTS[i + 1 :]:
                first_start = int(starts[rows[later]].min())
                if first_start <= last_t1 + gap:
                    problems.append(
                        f"{later} starts at {_iso(first_start)}, not after {earlier}'s last t1 "
                        f"{_iso(last_t1)} plus the embargo {split['embargo']}"
                    )
        return problems
    pairs: Iterable[tuple[str, str]] = (("train", "val"), ("train", "test"), ("val", "test"))
    for name_a, name_b in pairs:
        a, b = rows[name_a], rows[name_b]
        hits = conflicting_rows(starts[a], t1s[a], starts[b], t1s[b], gap)
        if hits.any():
            problems.append(
                f"{name_a} row {int(a[np.flatnonzero(hits)[0]])} lies within the embargo "
                f"{split['embargo']} of a {name_b} span (not purged)"
            )
    return problems


def validate_split(
    split: Any,
    n_rows: int,
    where: str,
    fingerprint: str | None = None,
    version: str | None = None,
    windows: pd.DataFrame | None = None,
) -> None:
    """Raise a one-line MoolaError naming `where` for the first problem `split_problems` finds."""
    problems = split_problems(split, n_rows, fingerprint=fingerprint, version=version, windows=windows)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise MoolaError(
            f"split {where} is not valid for its labeled set: {problems[0]}{more}; "
            "make a new split with moola make-splits"
        )
