"""Which unlabeled windows each fold's encoder must leave out, so it never sees that fold's val/test time.

Leakage here is about calendar time, not symbols: indices move together, so an encoder that
pretrained on any symbol's bars from the val/test period has seen that period. One encoder is
pretrained per fold of the split (fold i's classifier loads encoder i), and the rule is:

    protected span of fold i = [min start, max t1] over fold i's val and test rows,
                               widened by the split's embargo on both sides;
    encoder i leaves out every unlabeled window [start, end] that intersects that span.

Protecting every fold's val/test time in one shared encoder would, with k-fold splits that test
every labeled window once, leave nothing of the history to pretrain on.

Widening on both sides is deliberate: the split's embargo separates parts in time, and the
same gap keeps an unlabeled window that ends just before val from sharing its last bars'
volatility regime with val's first windows. Purged rows are scored in no part, so their bars
outside the span may be seen; their bars inside it are left out with everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

EXCLUSION_RULE = (
    "left out of fold i's encoder: unlabeled windows whose [start, end] intersects [min start, max t1] of "
    "fold i's val and test rows, widened by the split's embargo on both sides (any symbol)"
)


@dataclass
class ProtectedSpan:
    """The calendar interval pretraining must not touch (inclusive at both ends)."""

    start: pd.Timestamp
    end: pd.Timestamp

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def protected_span(
    labeled_windows: pd.DataFrame, protected_rows: np.ndarray, embargo: pd.Timedelta
) -> ProtectedSpan | None:
    """The val/test time span, widened by the embargo.

    Args:
        labeled_windows: the labeled windows.parquet frame (`start`, `t1`, UTC timestamps).
        protected_rows: row indices of the split's val and test windows.
        embargo: the split's embargo.

    Returns:
        The span, or None when there are no protected rows (nothing to leave out).
    """
    if len(protected_rows) == 0:
        return None
    rows = labeled_windows.iloc[np.asarray(protected_rows, dtype=np.int64)]
    return ProtectedSpan(start=rows["start"].min() - embargo, end=rows["t1"].max() + embargo)


def overlapping_windows(unlabeled_windows: pd.DataFrame, span: ProtectedSpan | None) -> np.ndarray:
    """Boolean mask (N,): True for every unlabeled window whose [start, end] meets `span`."""
    if span is None:
        return np.zeros(len(unlabeled_windows), dtype=bool)
    starts = unlabeled_windows["start"]
    ends = unlabeled_windows["end"]
    return ((starts <= span.end) & (ends >= span.start)).to_numpy(dtype=bool)


def exclusion_record(split_name: str, fold: int, span: ProtectedSpan | None, left_out: np.ndarray) -> dict[str, Any]:
    """The `exclusions` entry of fold `fold`'s encoder: split, fold, count left out, the rule and the span."""
    return {
        "split": split_name,
        "fold": int(fold),
        "n_left_out": int(np.count_nonzero(left_out)),
        "n_kept": int(left_out.size - np.count_nonzero(left_out)),
        "rule": EXCLUSION_RULE,
        "span": None if span is None else span.to_dict(),
    }


def fold_exclusions(
    split: dict[str, Any], labeled_windows: pd.DataFrame, unlabeled_windows: pd.DataFrame, embargo: pd.Timedelta
) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Per fold of `split`: (mask of the unlabeled windows its encoder leaves out, its `exclusions` record).

    Args:
        split: a split document already checked against `labeled_windows` (`folds`, `name`).
        labeled_windows: the labeled windows.parquet frame (`start`, `t1`).
        unlabeled_windows: the unlabeled windows.parquet frame (`start`, `end`).
        embargo: the split's embargo.
    """
    from moola.artifacts import split as split_artifact

    found = []
    for fold in range(len(split["folds"])):
        protected_rows = np.concatenate([split_artifact.rows(split, part, fold) for part in ("val", "test")])
        span = protected_span(labeled_windows, protected_rows, embargo)
        left_out = overlapping_windows(unlabeled_windows, span)
        found.append((left_out, exclusion_record(split["name"], fold, span, left_out)))
    return found
