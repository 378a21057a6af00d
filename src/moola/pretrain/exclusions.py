"""Which unlabeled windows pretraining must leave out so the encoder never sees val/test time.

Leakage here is about calendar time, not symbols: indices move together, so an encoder that
pretrained on any symbol's bars from the val/test period has seen that period. The rule:

    protected span = [min start, max t1] over the split's val and test rows,
                     widened by the split's embargo on both sides;
    an unlabeled window [start, end] is left out when it intersects the protected span.

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
    "left out: unlabeled windows whose [start, end] intersects [min start, max t1] of the "
    "val and test rows of every fold of the split, widened by the split's embargo on both sides (any symbol)"
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


def exclusion_record(split_name: str, span: ProtectedSpan | None, left_out: np.ndarray) -> dict[str, Any]:
    """The `exclusions` entry of the checkpoint: split, count left out, the rule and the span."""
    return {
        "split": split_name,
        "n_left_out": int(np.count_nonzero(left_out)),
        "n_kept": int(left_out.size - np.count_nonzero(left_out)),
        "rule": EXCLUSION_RULE,
        "span": None if span is None else span.to_dict(),
    }
