"""Leaving out unlabeled windows that meet a fold's val/test time, on a crafted timeline and on real splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pretrain_data import write_fold_split

from moola.pretrain.exclusions import (
    exclusion_record,
    fold_exclusions,
    overlapping_windows,
    protected_span,
)


def _day(n: int) -> pd.Timestamp:
    return pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(days=n)


def _frame(spans, end_column="end"):
    return pd.DataFrame({"start": [_day(a) for a, _ in spans], end_column: [_day(b) for _, b in spans]})


# Labeled rows: 0-1 train, 2 val [100, 110], 3 test [130, 140] (start, t1 in days).
LABELED = _frame([(0, 10), (40, 50), (100, 110), (130, 140)], end_column="t1")
VAL_TEST = np.array([2, 3])


def test_span_is_val_and_test_time_widened_by_the_embargo_on_both_sides():
    span = protected_span(LABELED, VAL_TEST, pd.Timedelta("5D"))
    assert (span.start, span.end) == (_day(95), _day(145))


def test_windows_meeting_the_span_are_left_out_for_any_symbol_and_boundaries_count():
    span = protected_span(LABELED, VAL_TEST, pd.Timedelta("5D"))
    unlabeled = _frame(
        [
            (60, 94),  # ends the day before the widened span: kept
            (60, 95),  # ends on its first day: left out
            (96, 99),  # inside the embargo before val, between parts: left out
            (112, 128),  # in the gap between val and test: left out (inside the span)
            (145, 170),  # starts on its last day: left out
            (146, 170),  # starts the day after: kept
            (0, 400),  # covers the whole span: left out
        ]
    )
    unlabeled["symbol"] = ["X", "Y", "Z", "X", "Y", "Z", "W"]  # symbols do not matter
    assert overlapping_windows(unlabeled, span).tolist() == [False, True, True, True, True, False, True]


def test_zero_embargo_uses_the_bare_span():
    span = protected_span(LABELED, VAL_TEST, pd.Timedelta(0))
    assert overlapping_windows(_frame([(60, 99), (60, 100), (141, 150)]), span).tolist() == [False, True, False]


def test_no_val_or_test_rows_leaves_nothing_out():
    span = protected_span(LABELED, np.array([], dtype=np.int64), pd.Timedelta("5D"))
    assert span is None
    assert not overlapping_windows(_frame([(0, 500)]), span).any()


def test_record_counts_and_states_the_rule():
    span = protected_span(LABELED, VAL_TEST, pd.Timedelta("5D"))
    record = exclusion_record("fwd", 2, span, np.array([True, False, True]))
    assert record["split"] == "fwd" and record["fold"] == 2 and record["n_left_out"] == 2 and record["n_kept"] == 1
    assert "fold i's val and test" in record["rule"] and "embargo" in record["rule"]
    assert record["span"] == {"start": _day(95).isoformat(), "end": _day(145).isoformat()}


@pytest.mark.parametrize("strategy, n_folds", [("walk_forward", 2), ("cpcv", 4)])
def test_each_fold_leaves_out_its_own_val_test_span_and_only_it(pretrain_project, strategy, n_folds):
    data = pretrain_project / "data"
    split = write_fold_split(data, "several", strategy)
    labeled = pd.read_parquet(data / "labeled_windows/v1/windows.parquet")
    unlabeled = pd.read_parquet(data / "unlabeled_windows/v1/windows.parquet")
    embargo = pd.Timedelta("5D")
    found = fold_exclusions(split, labeled, unlabeled, embargo)
    assert [record["fold"] for _mask, record in found] == list(range(n_folds))
    masks = [mask for mask, _record in found]
    for fold, (mask, record) in enumerate(found):
        rows = np.array(split["folds"][fold]["val_indices"] + split["folds"][fold]["test_indices"])
        own = labeled.iloc[rows]
        lo, hi = own["start"].min() - embargo, own["t1"].max() + embargo
        expected = ((unlabeled["start"] <= hi) & (unlabeled["end"] >= lo)).to_numpy()
        assert mask.tolist() == expected.tolist()  # its own span, widened by the embargo, and nothing else
        assert record["span"] == {"start": lo.isoformat(), "end": hi.isoformat()}
        assert record["n_left_out"] == int(expected.sum()) and 0 < record["n_kept"] < len(unlabeled)
    assert len({mask.tobytes() for mask in masks}) == n_folds  # every fold leaves out a different set
    every_fold = np.concatenate(
        [split["folds"][f]["val_indices"] + split["folds"][f]["test_indices"] for f in range(n_folds)]
    )
    left_out_by_one_span = overlapping_windows(unlabeled, protected_span(labeled, every_fold, embargo))
    assert all(
        mask.sum() < left_out_by_one_span.sum() for mask in masks
    )  # each fold keeps more than one shared span would
