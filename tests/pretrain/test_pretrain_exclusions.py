"""Leaving out unlabeled windows that meet the val/test time, on a crafted timeline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from moola.pretrain.exclusions import exclusion_record, overlapping_windows, protected_span


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
    record = exclusion_record("fwd", span, np.array([True, False, True]))
    assert record["split"] == "fwd" and record["n_left_out"] == 2 and record["n_kept"] == 1
    assert "val and test" in record["rule"] and "embargo" in record["rule"]
    assert record["span"] == {"start": _day(95).isoformat(), "end": _day(145).isoformat()}
