"""Splits: forward chaining with purge and embargo, stratified, refusals, the make-splits stage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fake_labeled import enter_project, set_params

from moola import cli
from moola.artifacts import split as split_artifact
from moola.data import splits
from moola.errors import MoolaError

DAY = pd.Timedelta("1D").value
ARCHITECTURE_FIELDS = {
    "name",
    "labeled_version",
    "labeled_fingerprint",
    "strategy",
    "time_ordered",
    "purge",
    "embargo",
    "train_indices",
    "val_indices",
    "test_indices",
    "purged_indices",
    "purge_days",
    "counts",
    "time_ranges",
    "created_by",
    "timestamp",
    "code",
}


def days(values):
    return np.asarray(values, dtype=np.int64) * DAY


def parts_of(codes):
    return {name: np.flatnonzero(codes == k).tolist() for k, name in enumerate(("train", "val", "test", "purged"))}


# ----- crafted timelines ---------------------------------------------------------------------


def test_no_overlap_no_embargo_cuts_exactly_by_fraction():
    starts = days(range(0, 100, 10))  # 10 windows, spans of 5 days, 5 days apart
    codes = splits.forward_chaining_parts(starts, starts + 5 * DAY, 0.6, 0.2, True, pd.Timedelta("0D"))
    assert parts_of(codes) == {"train": [0, 1, 2, 3, 4, 5], "val": [6, 7], "test": [8, 9], "purged": []}


def test_embargo_is_strict_and_drops_the_later_part_start():
    starts = days(range(0, 100, 10))
    t1s = starts + 5 * DAY  # last train t1 = day 55, first val start = day 60 = 55 + 5
    at_edge = splits.forward_chaining_parts(starts, t1s, 0.6, 0.2, True, pd.Timedelta("5D"))
    # val row 6 starts exactly at the embargo's end: dropped; likewise test row 8 (75 + 5 = 80)
    assert parts_of(at_edge) == {"train": [0, 1, 2, 3, 4, 5], "val": [7], "test": [9], "purged": [6, 8]}
    inside = splits.forward_chaining_parts(starts, t1s, 0.6, 0.2, True, pd.Timedelta("4D"))
    assert parts_of(inside)["purged"] == []


def test_purge_drops_earlier_rows_whose_span_reaches_the_next_part():
    starts = days([0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
    t1s = starts + 5 * DAY
    t1s[4] = 60 * DAY  # row 4 (train) runs into val's first start
    t1s[7] = 85 * DAY  # row 7 (val) runs into test's first start (day 80)
    codes = splits.forward_chaining_parts(starts, t1s, 0.6, 0.2, True, pd.Timedelta("0D"))
    assert parts_of(codes) == {"train": [0, 1, 2, 3, 5], "val": [6], "test": [8, 9], "purged": [4, 7]}


def test_without_purge_the_embargo_drops_the_later_rows_instead():
    starts = days([0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
    t1s = starts + 5 * DAY
    t1s[4] = 72 * DAY
    codes = splits.forward_chaining_parts(starts, t1s, 0.6, 0.2, False, pd.Timedelta("0D"))
    assert parts_of(codes) == {"train": [0, 1, 2, 3, 4, 5], "val": [], "test": [8, 9], "purged": [6, 7]}


def test_windows_sharing_a_start_time_stay_in_one_part_across_symbols():
    # Two symbols on the same calendar: the 60 % cut (row 6 of 10) falls inside a tie at day 30.
    starts = days([0, 0, 10, 10, 20, 20, 30, 30, 40, 40])
    codes = splits.forward_chaining_parts(starts, starts + 2 * DAY, 0.7, 0.1, True, pd.Timedelta("0D"))
    parts = parts_of(codes)
    assert parts["train"] == [0, 1, 2, 3, 4, 5]  # round(10 * 0.7) = 7 falls on the tie -> both later
    assert parts["val"] == [6, 7] and parts["test"] == [8, 9]


def test_conflicting_rows_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(50):
        a_start = rng.integers(0, 100, 20) * DAY
        a_t1 = a_start + rng.integers(0, 20, 20) * DAY
        b_start = rng.integers(0, 100, 15) * DAY
        b_t1 = b_start + rng.integers(0, 20, 15) * DAY
        gap = int(rng.integers(0, 5)) * DAY
        fast = splits.conflicting_rows(a_start, a_t1, b_start, b_t1, gap)
        slow = [
            any(sb <= ta + gap and sa <= tb + gap for sb, tb in zip(b_start, b_t1, strict=False))
            for sa, ta in zip(a_start, a_t1, strict=False)
        ]
        assert fast.tolist() == slow


# ----- property test over many random timelines ----------------------------------------------


def _random_timeline(rng):
    n = int(rng.integers(3, 60))
    n_symbols = int(rng.integers(1, 4))
    starts = np.sort(rng.integers(0, 400, n)) * DAY + rng.integers(0, n_symbols, n) * 3_600 * 10**9
    t1s = starts + rng.integers(0, 40, n) * DAY
    labels = rng.integers(0, 3, n)
    return starts, t1s, labels


def _assert_time_ordered_guarantees(codes, starts, t1s, embargo_ns):
    assert codes.shape == starts.shape and set(np.unique(codes)) <= {0, 1, 2, 3}
    for earlier in range(3):
        for later in range(earlier + 1, 3):
            a, b = codes == earlier, codes == later
            if a.any() and b.any():
                assert starts[b].min() > t1s[a].max() + embargo_ns  # embargo, hence no overlap
                assert starts[b].min() > starts[a].max()  # time order across symbols


def test_forward_chaining_guarantees_hold_on_200_random_timelines():
    rng = np.random.default_rng(20240601)
    for _ in range(200):
        starts, t1s, _labels = _random_timeline(rng)
        train_fraction = float(rng.uniform(0.2, 0.7))
        val_fraction = float(rng.uniform(0.05, 0.95 - train_fraction))
        embargo = pd.Timedelta(days=int(rng.integers(0, 10)))
        purge = bool(rng.integers(0, 2))
        codes = splits.forward_chaining_parts(starts, t1s, train_fraction, val_fraction, purge, embargo)
        _assert_time_ordered_guarantees(codes, starts, t1s, embargo.value)
        # the validator agrees whenever the split is usable
        if all((codes == k).any() for k in range(3)):
            doc = {f"{k}_indices": v for k, v in parts_of(codes).items()}
            doc["unused_indices"] = []
            doc["counts"] = {k: len(v) for k, v in parts_of(codes).items()} | {"unused": 0}
            doc["folds"] = [{"index": 0, **{k: v for k, v in doc.items() if k.endswith("_indices") or k == "counts"}}]
            doc["n_folds"] = 1
            doc.update(
                name="x",
                labeled_version="v1",
                labeled_fingerprint="f",
                strategy="forward_chaining",
                time_ordered=True,
                purge=purge,
                embargo=f"{embargo.days}D",
                purge_days=float(embargo.days),
                time_ranges={},
                created_by="t",
                timestamp="t",
            )
            windows = pd.DataFrame({"start": pd.to_datetime(starts, utc=True), "t1": pd.to_datetime(t1s, utc=True)})
            assert split_artifact.problems(doc, len(starts), windows=windows) == []


def test_stratified_guarantees_and_determinism_on_200_random_timelines():
    rng = np.random.default_rng(7)
    for trial in range(200):
        starts, t1s, labels = _random_timeline(rng)
        embargo = pd.Timedelta(days=int(rng.integers(0, 10)))
        codes = splits.stratified_parts(starts, t1s, labels, 0.6, 0.2, embargo, seed=trial)
        again = splits.stratified_parts(starts, t1s, labels, 0.6, 0.2, embargo, seed=trial)
        assert np.array_equal(codes, again)
        for name_a, name_b in ((0, 1), (0, 2), (1, 2)):
            a, b = codes == name_a, codes == name_b
            hits = splits.conflicting_rows(starts[a], t1s[a], starts[b], t1s[b], embargo.value)
            assert not hits.any()


def test_stratified_keeps_class_shares_when_nothing_overlaps():
    starts = days(range(0, 300, 10))
    labels = np.repeat([0, 1, 2], 10)
    codes = splits.stratified_parts(starts, starts + DAY, labels, 0.6, 0.2, pd.Timedelta("0D"), seed=1)
    for label in range(3):
        assert np.bincount(codes[labels == label], minlength=4).tolist() == [6, 2, 2, 0]
    other_seed = splits.stratified_parts(starts, starts + DAY, labels, 0.6, 0.2, pd.Timedelta("0D"), seed=2)
    assert not np.array_equal(codes, other_seed)


# ----- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["random", "Random", "kfold"])
def test_random_strategies_are_refused_with_the_leak_explained(strategy):
    with pytest.raises(MoolaError, match="refused.*near-copies of test windows"):
        splits.refuse_unknown_strategy(strategy, "params key make_splits.strategy")


@pytest.mark.parametrize("text", ["five days", "-1D", "", "5"])
def test_bad_embargo_is_a_params_error(text):
    with pytest.raises(MoolaError, match="make_splits.embargo"):
        splits.parse_embargo(text)


# ----- the stage through the command line ----------------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch):
    return enter_project(tmp_path, monkeypatch)


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_make_splits_writes_the_documented_split(project, capsys):
    assert cli.main(["make-splits"]) == 0
    path = project / "data" / "splits" / "fwd_chain_v3.json"
    split = json.loads(path.read_text())
    assert ARCHITECTURE_FIELDS <= set(split)
    assert split["strategy"] == "forward_chaining" and split["time_ordered"] is True
    assert split["purge"] is True and split["embargo"] == "5D"
    meta = json.loads((project / "data" / "labeled_windows" / "v1" / "meta.json").read_text())
    assert split["labeled_fingerprint"] == meta["fingerprint"] and split["labeled_version"] == "v1"
    rows = sorted(split["train_indices"] + split["val_indices"] + split["test_indices"] + split["purged_indices"])
    assert rows == list(range(meta["n"])) and split["unused_indices"] == []
    assert split["counts"] == {k: len(split[f"{k}_indices"]) for k in ("train", "val", "test", "purged", "unused")}
    assert split["n_folds"] == 1 and split["folds"][0]["train_indices"] == split["train_indices"]
    assert split["purge_days"] == 5.0  # the seed's field: the embargo in days
    windows = pd.read_parquet(project / "data" / "labeled_windows" / "v1" / "windows.parquet")
    assert split["timestamp"] == windows["t1"].max().isoformat()  # from the data, not the clock
    assert split["time_ranges"]["train"]["end"] < split["time_ranges"]["val"]["start"]
    assert split["time_ranges"]["val"]["end"] < split["time_ranges"]["test"]["start"]
    assert "wrote data/splits/fwd_chain_v3.json" in capsys.readouterr().out


def test_make_splits_is_byte_identical_and_refuses_a_rewrite(project, capsys):
    assert cli.main(["make-splits"]) == 0
    path = project / "data" / "splits" / "fwd_chain_v3.json"
    first = path.read_bytes()
    assert cli.main(["make-splits"]) == 0  # same content: left as it is
    assert path.read_bytes() == first
    set_params(project, "make_splits", train_fraction=0.5)
    capsys.readouterr()
    assert cli.main(["make-splits"]) == 1
    err = _one_line_error(capsys)
    assert "already exists with different content" in err and "fwd_chain_v4" in err
    assert path.read_bytes() == first


def test_make_splits_refuses_random_with_one_line_and_writes_nothing(project, capsys):
    set_params(project, "make_splits", strategy="random")
    assert cli.main(["make-splits"]) == 1
    err = _one_line_error(capsys)
    assert "make_splits.strategy" in err and "'random' is refused" in err and "forward_chaining" in err
    assert not (project / "data" / "splits").exists()
    assert cli.main(["make-splits", "--strategy", "shuffle"]) == 1
    assert "refused" in _one_line_error(capsys)
    assert cli.main(["make-splits", "--strategy", "bogus"]) == 1
    assert "unknown split strategy 'bogus'" in _one_line_error(capsys)


def test_make_splits_stratified_is_deterministic_purged_and_not_time_ordered(project, tmp_path):
    assert cli.main(["make-splits", "--strategy", "stratified", "--name", "strat_v1"]) == 0
    path = project / "data" / "splits" / "strat_v1.json"
    split = json.loads(path.read_text())
    assert split["strategy"] == "stratified" and split["time_ordered"] is False and split["purge"] is True
    windows = pd.read_parquet(project / "data" / "labeled_windows" / "v1" / "windows.parquet")
    assert split_artifact.problems(split, len(windows), windows=windows) == []
    first = path.read_bytes()
    path.unlink()
    assert cli.main(["make-splits", "--strategy", "stratified", "--name", "strat_v1"]) == 0
    assert path.read_bytes() == first


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("embargo", "soon", "make_splits.embargo"),
        ("train_fraction", 0.9, "make_splits.val_fraction"),
        ("name", "../escape", "make_splits.name"),
        ("purge", "yes", "make_splits.purge"),
    ],
)
def test_make_splits_params_errors_are_one_line(project, capsys, key, value, expected):
    set_params(project, "make_splits", **{key: value})
    assert cli.main(["make-splits"]) == 1
    assert expected in _one_line_error(capsys)


def test_make_splits_without_labeled_windows_says_what_to_run(project, capsys):
    set_params(project, "build_windows", version="v9")
    assert cli.main(["make-splits"]) == 1
    assert "labeled_windows/v9 not found" in _one_line_error(capsys)


# ----- purged k-fold, the default --------------------------------------------------------------


def test_purged_kfold_is_the_default_strategy():
    assert splits.MakeSplitsParams().strategy == "purged_kfold" and splits.MakeSplitsParams().n_folds == 5


def test_make_splits_purged_kfold_tests_every_window_once(project, capsys):
    set_params(project, "make_splits", strategy="purged_kfold", n_folds=3, val_fraction=0.1, name="kfold_v1")
    assert cli.main(["make-splits"]) == 0
    split = json.loads((project / "data" / "splits" / "kfold_v1.json").read_text())
    assert ARCHITECTURE_FIELDS <= set(split)
    assert split["strategy"] == "purged_kfold" and split["time_ordered"] is False and split["purge"] is True
    windows = pd.read_parquet(project / "data" / "labeled_windows" / "v1" / "windows.parquet")
    assert split_artifact.problems(split, len(windows), windows=windows) == []
    tested = sorted(row for fold in split["folds"] for row in fold["test_indices"])
    assert tested == list(range(len(windows)))  # every window tested, exactly once
    assert split_artifact.out_of_fold_rows(split).tolist() == tested
    assert split["test_indices"] == split["folds"][-1]["test_indices"] and split["paths"] == [[0, 1, 2]]
    assert all(
        fold["purged_indices"] == sorted(set(fold["purged_indices"]) - set(fold["test_indices"]))
        for fold in split["folds"]
    )
    assert f"tests {len(windows)} of {len(windows)} labeled windows (100%) out of fold" in capsys.readouterr().out
    assert split["train_fraction"] is None  # not read by k-fold: changing it leaves the split as it is
    set_params(project, "make_splits", train_fraction=0.3)
    assert cli.main(["make-splits"]) == 0 and "already holds this split" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"n_folds": 1}, "make_splits.n_folds: purged_kfold needs at least 2 time blocks"),
        ({"n_folds": 3, "val_fraction": 0.7}, "make_splits.val_fraction: 0.7 leaves no train rows with 3 folds"),
        ({"purge": False}, "strategy purged_kfold always purges"),
        ({"n_folds": 40, "val_fraction": 0.01}, "lower make_splits.n_folds"),
    ],
)
def test_make_splits_purged_kfold_refuses_bounds_in_one_line(project, capsys, values, expected):
    set_params(project, "make_splits", strategy="purged_kfold", **values)
    assert cli.main(["make-splits"]) == 1
    assert expected in _one_line_error(capsys)
    assert not (project / "data" / "splits").exists()


def test_purged_kfold_refuses_a_fold_whose_train_part_lacks_a_class():
    starts = pd.to_datetime(days(range(0, 120, 10)), utc=True)
    windows = pd.DataFrame({"start": starts, "t1": starts + pd.Timedelta("5D")})
    labels = np.array([2, 2, 2, 2, 0, 1, 0, 1, 0, 1, 0, 1])  # "up" only in the first block
    meta = {"version": "v1", "fingerprint": "f" * 64, "class_names": ["down", "neutral", "up"]}
    arguments = dict(
        name="k",
        windows=windows,
        labeled_meta=meta,
        strategy="purged_kfold",
        train_fraction=0.4,
        val_fraction=0.1,
        purge=True,
        embargo="0D",
        seed=0,
        n_folds=3,
    )
    with pytest.raises(MoolaError, match="the train part of fold 0 holds no window of class 'up'"):
        splits.build_split(labels=labels, **arguments)
    split = splits.build_split(labels=np.array([2, 2, 0, 1] * 3), **arguments)
    assert [fold["counts"]["test"] for fold in split["folds"]] == [4, 4, 4]
