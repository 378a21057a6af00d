"""Time as moola compares it: int64 nanoseconds UTC, bounded durations, overlapping spans.

A labeled window occupies the span [start, t1] (first bar to label horizon end). Splits, folds,
the pretraining exclusions and the audit compare spans through these functions only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from moola.errors import MoolaError

# Durations (embargo, max_gap) above this are refused: nothing sane needs more, and adding a
# larger one to a nanosecond timestamp would overflow int64 silently.
MAX_DURATION = pd.Timedelta(days=365 * 100)


def parse_duration(text: Any, where: str, example: str = "'5D' or '12h'") -> pd.Timedelta:
    """Parse a non-negative, bounded pandas Timedelta string such as ``5D``, ``12h`` or ``0D``.

    Args:
        text: the duration as written.
        where: what holds it, for the error message ("params key make_splits.embargo").
        example: examples to show in the message.

    Returns:
        The duration as a `pandas.Timedelta` in [0, 100 years].
    """
    if not isinstance(text, str) or not any(ch.isalpha() for ch in text) or len(text) > 64:
        # pandas reads a bare '5' as 5 nanoseconds: demand a unit so nobody gets that by accident
        raise MoolaError(
            f"{where} = {str(text)[:40]!r} must be a pandas Timedelta string with a unit, such as {example}"
        )
    try:
        value = pd.Timedelta(text)
    except (ValueError, TypeError, OverflowError):
        raise MoolaError(f"{where} = {text!r} is not a pandas Timedelta (or too large): write e.g. {example}") from None
    if pd.isna(value) or value < pd.Timedelta(0):
        raise MoolaError(f"{where} = {text!r} must be zero or positive, e.g. {example}")
    if value > MAX_DURATION:
        raise MoolaError(f"{where} = {text!r} is longer than 100 years: give a shorter duration, e.g. {example}")
    return value


def to_nanoseconds(values: Any) -> np.ndarray:
    """Return timestamps as int64 nanoseconds since the epoch, UTC (naive values count as UTC)."""
    index = pd.DatetimeIndex(values)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit("ns").asi8.copy()


def iso(nanoseconds: int) -> str:
    """An int64 nanosecond timestamp as ISO text, UTC."""
    return pd.Timestamp(int(nanoseconds), unit="ns", tz="UTC").isoformat()


def check_spans(starts: np.ndarray, t1s: np.ndarray) -> None:
    """Refuse windows whose label horizon end t1 is before their start (int64 nanoseconds, (N,) each)."""
    if starts.shape != t1s.shape or starts.ndim != 1:
        raise MoolaError(f"window starts {starts.shape} and label horizon ends {t1s.shape} must be two (N,) arrays")
    bad = np.flatnonzero(t1s < starts)
    if bad.size:
        row = int(bad[0])
        raise MoolaError(
            f"window row {row}: label horizon end t1 {iso(t1s[row])} is before its start {iso(starts[row])}: "
            "rebuild the labeled windows"
        )


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
