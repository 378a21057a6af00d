"""Purged, embargoed time folds: walk-forward (k = 1 is forward chaining), CPCV counts and paths, the fold rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from moola.data import folds, splits
from moola.errors import MoolaError

DAY = pd.Timedelta("1D").value


def days(values):
    return np.asarray(values, dtype=np.int64) * DAY


@st.composite
def timelines(draw, min_size=2, max_size=60):
    """Windows in random row order: starts on a day grid (ties allowed), spans 0..15 days."""
    n = draw(st.integers(min_size, max_size))
    gaps = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    spans = draw(st.lists(st.integers(0, 15), min_size=n, max_size=n))
    starts = np.cumsum(gaps).astype(np.int64)
    permutation = draw(st.permutations(range(n)))
    starts = days(starts[list(permutation)])
    return starts, starts + days(spans)


embargoes = st.integers(0, 6).map(lambda d: pd.Timedelta(days=d))
fractions = st.tuples(st.floats(0.2, 0.7), st.floats(0.0, 0.25)).filter(lambda tv: tv[0] + tv[1] < 0.95)


def assert_parts_partition_rows(fold, n):
    every = np.sort(np.concatenate([fold.part(name) for name in folds.FOLD_PARTS]))
    assert every.tolist() == list(range(n))


# ----- walk-forward -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(timelines(), st.booleans(), fractions, embargoes)
def test_one_fold_reproduces_forward_chaining_index_for_index(timeline, purge, tv, embargo):
    starts, t1s = timeline
    train_fraction, val_fraction = tv
    codes = splits.forward_chaining_parts(starts, t1s, train_fraction, val_fraction, purge, embargo)
    (fold,) = folds.walk_forward(starts, t1s, 1, train_fraction, val_fraction, embargo, purge=purge).folds
    for code, name in enumerate(splits.ALL_PARTS):
        assert fold.part(name).tolist() == np.flatnonzero(codes == code).tolist(), name
    assert fold.unused.size == 0


@settings(max_examples=60, deadline=None)
@given(timelines(), st.integers(1, 4), st.booleans(), fractions, embargoes, st.sampled_from(folds.WINDOWS))
def test_walk_forward_no_train_span_meets_val_or_test_and_embargo_holds(timeline, k, purge, tv, embargo, window):
    starts, t1s = timeline
    plan = folds.walk_forward(starts, t1s, k, tv[0], tv[1], embargo, purge=purge, window=window)
    assert len(plan.folds) == k and plan.paths.tolist() == [list(range(k))]
    gap = int(embargo.value)
    for fold in plan.folds:
        assert_parts_partition_rows(fold, starts.size)
        # forward-chaining form of the rule: every later part starts after earlier t1 + embargo
        for earlier, later in (("train", "val"), ("train", "test"), ("val", "test")):
            a, b = fold.part(earlier), fold.part(later)
            if a.size and b.size:
                assert starts[b].min() > t1s[a].max() + gap
        problems = [p for p in folds.fold_problems(starts, t1s, fold, embargo) if "is empty" not in p]
        assert problems == []


@settings(max_examples=30, deadline=None)
@given(timelines(min_size=10), st.integers(2, 4), fractions, embargoes)
def test_walk_forward_test_blocks_march_forward_and_rolling_train_is_a_suffix(timeline, k, tv, embargo):
    starts, t1s = timeline
    expanding = folds.walk_forward(starts, t1s, k, tv[0], tv[1], embargo)
    rolling = folds.walk_forward(starts, t1s, k, tv[0], tv[1], embargo, window="rolling")
    tests = [f.test for f in expanding.folds if f.test.size]
    for before, after in zip(tests, tests[1:], strict=False):
        assert starts[before].max() < starts[after].min()
    for grown, rolled in zip(expanding.folds, rolling.folds, strict=False):
        if rolled.train.size == 0:  # ties swallowed the rolling window: make_splits refuses such a fold
            continue
        assert set(rolled.train) <= set(grown.train)
        # the same val and test blocks, up to purge: the embargo after train starts from the last
        # kept train t1, which a rolling window (fewer early rows) may place earlier
        for name in ("val", "test"):
            assert set(rolled.part(name)) <= set(grown.part(name)) | set(grown.purged)
            assert set(grown.part(name)) <= set(rolled.part(name)) | set(rolled.purged)


def test_walk_forward_hand_made_three_folds():
    starts = days(range(0, 200, 10))  # 20 windows, 10 days apart, spans of 5 days, no embargo
    plan = folds.walk_forward(starts, starts + 5 * DAY, 3, 0.4, 0.15, pd.Timedelta("0D"))
    # initial train 8 rows; held-out 12 rows in 3 blocks of 4: 1 val row (0.05 * 20) + 3 test rows
    assert [f.train.tolist() for f in plan.folds] == [list(range(8)), list(range(12)), list(range(16))]
    assert [f.val.tolist() for f in plan.folds] == [[8], [12], [16]]
    assert [f.test.tolist() for f in plan.folds] == [[9, 10, 11], [13, 14, 15], [17, 18, 19]]
    assert plan.folds[0].unused.tolist() == list(range(12, 20))
    rolling = folds.walk_forward(starts, starts + 5 * DAY, 3, 0.4, 0.15, pd.Timedelta("0D"), window="rolling")
    assert [f.train.tolist() for f in rolling.folds] == [list(range(8)), list(range(4, 12)), list(range(8, 16))]


def test_walk_forward_refuses_bad_parameters():
    starts = days(range(10))
    with pytest.raises(MoolaError, match="n_folds"):
        folds.walk_forward(starts, starts, 0, 0.6, 0.2, pd.Timedelta("0D"))
    with pytest.raises(MoolaError, match="window"):
        folds.walk_forward(starts, starts, 2, 0.6, 0.2, pd.Timedelta("0D"), window="sliding")
    with pytest.raises(MoolaError, match="train_fraction"):
        folds.walk_forward(starts, starts, 2, 0.8, 0.2, pd.Timedelta("0D"))
    with pytest.raises(MoolaError, match="before its start"):
        folds.walk_forward(starts, starts - DAY, 2, 0.6, 0.2, pd.Timedelta("0D"))


# ----- CPCV ---------------------------------------------------------------------------------


def test_cpcv_afml_example_six_groups_two_tested():
    starts = days(range(0, 600, 10))  # 60 windows, 10 per group
    plan = folds.cpcv(starts, starts + 5 * DAY, 6, 2, pd.Timedelta("0D"))
    assert len(plan.folds) == 15 and plan.n_paths == 5  # AFML fig. 12.1: C(6, 2) = 15 splits, phi = 5
    assert [g.size for g in plan.groups] == [10] * 6
    assert plan.folds[0].test_groups == (0, 1) and plan.folds[0].test.tolist() == list(range(20))
    assert plan.folds[0].purged.size == 0  # spans of 5 days never reach the next window 10 days on
    assert plan.paths[:, 0].tolist() == [0, 1, 2, 3, 4]  # group 0 is tested in folds (0,1)..(0,5)


@settings(max_examples=60, deadline=None)
@given(timelines(min_size=12), st.integers(2, 6), st.data(), embargoes)
def test_cpcv_counts_groups_and_paths_as_in_afml(timeline, n_groups, data, embargo):
    starts, t1s = timeline
    k = data.draw(st.integers(1, n_groups - 1))
    try:
        plan = folds.cpcv(starts, t1s, n_groups, k, embargo)
    except MoolaError:
        assume(False)  # too many tied starts for N groups: covered by the empty-group test
    assert len(plan.folds) == math.comb(n_groups, k)
    phi = folds.n_backtest_paths(n_groups, k)
    assert phi * n_groups == k * math.comb(n_groups, k)  # phi = k / N * C(N, k)
    assert plan.paths.shape == (phi, n_groups)
    # groups partition the rows and march forward in time
    assert np.sort(np.concatenate(plan.groups)).tolist() == list(range(starts.size))
    for before, after in zip(plan.groups, plan.groups[1:], strict=False):
        assert starts[before].max() < starts[after].min()
    # every group is tested in C(N-1, k-1) folds, and each of those supplies it to exactly one path
    for g in range(n_groups):
        testing = sorted(f.index for f in plan.folds if g in f.test_groups)
        assert len(testing) == phi
        assert sorted(plan.paths[:, g].tolist()) == testing
    # heavy overlap may purge a whole train part: a fact the split stage refuses, not a broken rule
    assert [p for p in folds.plan_problems(starts, t1s, plan, embargo) if "is empty" not in p] == []
    for fold in plan.folds:
        assert_parts_partition_rows(fold, starts.size)
        assert fold.val.size == 0 and fold.unused.size == 0
        assert fold.test.tolist() == np.sort(np.concatenate([plan.groups[g] for g in fold.test_groups])).tolist()
        # no kept train row within the embargo of any test span, on either side
        hits = splits.conflicting_rows(
            starts[fold.train], t1s[fold.train], starts[fold.test], t1s[fold.test], int(embargo.value)
        )
        assert not hits.any()
        # purge is minimal: every purged row does meet a test span within the embargo
        meets = splits.conflicting_rows(
            starts[fold.purged], t1s[fold.purged], starts[fold.test], t1s[fold.test], int(embargo.value)
        )
        assert meets.all()


def test_cpcv_refuses_bad_parameters_and_empty_groups():
    starts = days([0, 0, 0, 0, 5])
    with pytest.raises(MoolaError, match="n_test_groups"):
        folds.cpcv(starts, starts, 4, 4, pd.Timedelta("0D"))
    with pytest.raises(MoolaError, match="empty"):
        folds.cpcv(starts, starts, 3, 1, pd.Timedelta("0D"))


# ----- purged k-fold ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(timelines(min_size=10), st.integers(2, 6), st.floats(0.0, 0.3), embargoes)
def test_purged_kfold_tests_every_row_exactly_once_and_purges_on_both_sides(timeline, k, val_fraction, embargo):
    starts, t1s = timeline
    assume(val_fraction < 1 - 1 / k)
    try:
        plan = folds.purged_kfold(starts, t1s, k, val_fraction, embargo)
    except MoolaError:
        assume(False)  # too many tied starts for k blocks: covered by the refusal test
    assert len(plan.folds) == k and plan.paths.tolist() == [list(range(k))]
    tested = np.concatenate([fold.test for fold in plan.folds])
    assert np.sort(tested).tolist() == list(range(starts.size))  # 100% coverage, each row once
    for before, after in zip(plan.groups, plan.groups[1:], strict=False):
        assert starts[before].max() < starts[after].min()  # contiguous blocks marching forward
    assert [p for p in folds.plan_problems(starts, t1s, plan, embargo) if "is empty" not in p] == []
    gap = int(embargo.value)
    for fold in plan.folds:
        assert_parts_partition_rows(fold, starts.size)
        assert fold.test.tolist() == plan.groups[fold.index].tolist() and fold.unused.size == 0
        # val sits on one side of its block: before it, or for block 0 after it
        if fold.val.size:
            side = (
                starts[fold.val].max() < starts[fold.test].min()
                if fold.index
                else starts[fold.val].min() > starts[fold.test].max()
            )
            assert side
        # purge is minimal: a purged val row meets the test block, a purged train row a kept val or test span
        held_out = np.concatenate([fold.val, fold.test])
        meets_test = splits.conflicting_rows(
            starts[fold.purged], t1s[fold.purged], starts[fold.test], t1s[fold.test], gap
        )
        meets_held_out = splits.conflicting_rows(
            starts[fold.purged], t1s[fold.purged], starts[held_out], t1s[held_out], gap
        )
        assert (meets_test | meets_held_out).all()


def test_purged_kfold_middle_block_trains_on_both_sides_and_purges_its_neighbours():
    starts = days(range(0, 200, 10))  # 20 windows 10 days apart, spans of 5 days: 5 blocks of 4
    t1s = starts + 5 * DAY
    plan = folds.purged_kfold(starts, t1s, 5, 0.1, pd.Timedelta("0D"))  # val: 2 rows per fold
    middle = plan.folds[2]
    assert middle.test.tolist() == [8, 9, 10, 11] and middle.val.tolist() == [6, 7]
    assert middle.train.tolist() == [0, 1, 2, 3, 4, 5] + list(range(12, 20)) and middle.purged.size == 0
    assert plan.folds[0].val.tolist() == [4, 5] and plan.folds[0].train.tolist() == list(range(6, 20))
    # an embargo of 5 days puts every neighbour within reach (next start 10 <= t1 5 + 5): purged
    plan = folds.purged_kfold(starts, t1s, 5, 0.1, pd.Timedelta("5D"))
    middle = plan.folds[2]
    assert middle.test.tolist() == [8, 9, 10, 11]  # test rows are never purged
    assert middle.val.tolist() == [6] and middle.purged.tolist() == [5, 7, 12]
    assert middle.train.tolist() == [0, 1, 2, 3, 4] + list(range(13, 20))
    first = plan.folds[0]
    assert first.val.tolist() == [5] and first.purged.tolist() == [4, 6] and first.train.tolist() == list(range(7, 20))
    assert folds.plan_problems(starts, t1s, plan, pd.Timedelta("5D")) == []


def test_purged_kfold_ties_move_whole_into_the_later_part():
    # six windows, a cut at sorted position 3 falls inside the tie at day 1: the tie goes to block 1
    starts = days([0, 1, 1, 1, 2, 3])
    plan = folds.purged_kfold(starts, starts, 2, 0.0, pd.Timedelta("0D"))
    assert [g.tolist() for g in plan.groups] == [[0], [1, 2, 3, 4, 5]]
    # the val cut at sorted position 2 falls inside the tie at day 1: the whole tie joins val
    starts = days([0, 1, 1, 2, 3, 4, 5, 6])
    fold = folds.purged_kfold(starts, starts, 2, 0.25, pd.Timedelta("0D")).folds[1]
    assert fold.test.tolist() == [4, 5, 6, 7] and fold.val.tolist() == [1, 2, 3] and fold.train.tolist() == [0]
    # rows are found by time, not by row order
    shuffled = np.array([5, 2, 7, 0, 3, 6, 1, 4])
    again = folds.purged_kfold(starts[shuffled], starts[shuffled], 2, 0.25, pd.Timedelta("0D")).folds[1]
    assert sorted(shuffled[again.val].tolist()) == [1, 2, 3]


def test_purged_kfold_refuses_bad_parameters_and_empty_blocks():
    starts = days(range(10))
    with pytest.raises(MoolaError, match="n_folds must be an integer >= 2"):
        folds.purged_kfold(starts, starts, 1, 0.2, pd.Timedelta("0D"))
    with pytest.raises(MoolaError, match=r"val_fraction 0.5 must lie in \[0, 1 - 1/n_folds\)"):
        folds.purged_kfold(starts, starts, 2, 0.5, pd.Timedelta("0D"))
    with pytest.raises(MoolaError, match="purged_kfold: group 0 of 3 is empty .*lower make_splits.n_folds"):
        folds.purged_kfold(days([0, 0, 0, 0, 5]), days([0, 0, 0, 0, 5]), 3, 0.0, pd.Timedelta("0D"))


# ----- the fold rule ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(timelines(min_size=6), st.integers(1, 3), embargoes)
def test_fold_problems_catches_every_purged_row_put_back_into_train(timeline, k, embargo):
    starts, t1s = timeline
    for fold in folds.walk_forward(starts, t1s, k, 0.5, 0.2, embargo).folds:
        if fold.test.size == 0:
            continue
        for row in fold.purged:
            held_out = np.concatenate([fold.val, fold.test])
            meets = splits.conflicting_rows(
                starts[[row]], t1s[[row]], starts[held_out], t1s[held_out], int(embargo.value)
            )
            leaky = folds.Fold(
                fold.index,
                np.sort(np.r_[fold.train, row]),
                fold.val,
                fold.test,
                fold.purged[fold.purged != row],
                fold.unused,
            )
            problems = folds.fold_problems(starts, t1s, leaky, embargo)
            # a purged row that meets a held-out span is caught; one purged only because a
            # val/test row was dropped before it (embargo of the later part) may be harmless
            assert bool(meets[0]) == any("train row" in p for p in problems)


def _fold(n=4, **parts):
    """A fold of `n` rows; rows no part names are `unused` (every row is in one part)."""
    rows = {name: np.asarray(parts.get(name, []), dtype=np.int64) for name in folds.FOLD_PARTS}
    named = set(np.concatenate(list(rows.values())).tolist())
    if "unused" not in parts:
        rows["unused"] = np.asarray(sorted(set(range(n)) - named), dtype=np.int64)
    return folds.Fold(index=7, **rows)


def test_fold_problems_names_overlap_embargo_and_bookkeeping():
    starts = days([0, 10, 20, 30])
    t1s = starts + 5 * DAY
    embargo = pd.Timedelta("6D")
    ok = _fold(train=[0], test=[2, 3], purged=[1])
    assert folds.fold_problems(starts, t1s, ok, embargo) == []
    too_close = folds.fold_problems(starts, t1s, _fold(train=[0], test=[1]), embargo)
    assert too_close == ["fold 7: train row 0 lies within the embargo 6 days 00:00:00 of a test span"]
    overlapping = folds.fold_problems(starts, days([40, 40, 40, 40]), _fold(train=[0], test=[3]), embargo)
    assert overlapping == ["fold 7: train row 0 overlaps a test span (not purged)"]
    assert (
        "in more than one part" in folds.fold_problems(starts, t1s, _fold(train=[0], test=[3], purged=[0]), embargo)[0]
    )
    assert (
        "outside the labeled set's rows 0..3"
        in folds.fold_problems(starts, t1s, _fold(train=[9], test=[3]), embargo)[0]
    )
    assert "in no part" in folds.fold_problems(starts, t1s, _fold(train=[0], test=[3], unused=[]), embargo)[0]
    assert "is empty" in folds.fold_problems(starts, t1s, _fold(train=[0]), embargo)[0]


def test_fold_summary_counts_time_ranges_and_classes():
    starts = days([0, 10, 20, 30])
    (fold,) = folds.walk_forward(starts, starts + 5 * DAY, 1, 0.5, 0.25, pd.Timedelta("0D")).folds
    summary = fold.summary(starts, starts + 5 * DAY, labels=[0, 1, 1, 2], class_names=["down", "neutral", "up"])
    assert summary["counts"] == {"train": 2, "val": 1, "test": 1, "purged": 0, "unused": 0}
    assert summary["time_ranges"]["test"] == {"start": "1970-01-31T00:00:00+00:00", "end": "1970-02-05T00:00:00+00:00"}
    assert summary["class_counts"]["train"] == {"down": 1, "neutral": 1, "up": 0}


def test_plan_summary_is_json_ready():
    import json

    starts = days(range(0, 120, 10))
    plan = folds.cpcv(starts, starts + 5 * DAY, 4, 2, pd.Timedelta("0D"))
    summary = json.loads(json.dumps(plan.summary(starts, starts + 5 * DAY, labels=[0, 1, 2] * 4)))
    assert summary["n_folds"] == 6 and summary["n_paths"] == 3 and len(summary["paths"]) == 3
    assert summary["groups"][0] == [0, 1, 2] and summary["folds"][5]["test_groups"] == [2, 3]
