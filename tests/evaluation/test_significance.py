"""Intervals, paired tests, collapse and verdicts on hand-made cases: a perfect model, a constant one, coins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moola.data import folds
from moola.errors import MoolaError
from moola.evaluation import metrics, power, significance

CLASSES = ("down", "neutral", "up")
# 60 windows in 3 folds; neutral is the majority class (30 of 60)
LABELS = np.array([1, 0, 1, 2, 1, 0] * 10)
FOLDS = np.repeat([0, 1, 2], 20)
N_WINDOWS = len(LABELS)


def table(proba, labels=LABELS, fold=FOLDS, ids=None):
    ids = [f"w{i:03d}" for i in range(len(labels))] if ids is None else ids
    return significance.OutOfFold(ids, fold, labels, proba, CLASSES)


def one_hot(classes, k=3):
    return np.eye(k)[np.asarray(classes)]


def coin(seed, n=N_WINDOWS):
    return one_hot(np.random.default_rng(seed).integers(0, 3, n))


def majority(n=N_WINDOWS):
    return significance.majority_baseline_proba(LABELS, n, 3)


def skill(p_value=0.001):
    """A no-skill test result with the given p (the verdicts' second null)."""
    return significance.NoSkill(accuracy=0.5, permuted_accuracy=0.33, p_value=p_value, n_resamples=999)


# ----- hand-made cases --------------------------------------------------------------------


def test_perfect_model_beats_both_baselines_with_tight_intervals():
    oof = table(one_hot(LABELS))
    intervals = significance.bootstrap_intervals(oof, n_resamples=100)
    assert intervals["accuracy"].to_dict() == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert intervals["brier"].value == 0.0 and intervals["brier"].ci_high == 0.0
    compared = significance.paired_comparison(oof, majority(), n_resamples=100)
    assert compared["accuracy"].difference == pytest.approx(0.5)
    assert compared["accuracy"].p_value == pytest.approx(0.5**30)  # 30 windows only the model gets right
    assert compared["brier"].p_value < 0.01 and compared["f1_macro"].ci_low > 0
    collapse = significance.class_collapse(LABELS, oof.proba, CLASSES)
    assert collapse.recall == {"down": 1.0, "neutral": 1.0, "up": 1.0} and collapse.collapsed_to is None
    said = significance.verdict(compared["accuracy"], collapse, "majority", no_skill=skill())
    assert said.beats and said.text == f"beats the majority baseline (p = {0.5**30:.3g})"


@pytest.mark.parametrize("constant", [0, 1, 2])
def test_constant_model_is_collapsed_and_never_beats(constant):
    proba = np.tile([0.2, 0.2, 0.2], (len(LABELS), 1))
    proba[:, constant] = 0.6
    oof = table(proba)
    compared = significance.paired_comparison(oof, majority(), n_resamples=100)
    collapse = significance.class_collapse(LABELS, proba, CLASSES)
    assert collapse.top_share == 1.0 and collapse.collapsed_to == CLASSES[constant]
    said = significance.verdict(compared["accuracy"], collapse, "majority", no_skill=skill())
    assert (
        not said.beats
        and said.text == f"collapsed to {CLASSES[constant]} (100% of windows predicted {CLASSES[constant]})"
    )
    if constant == 1:  # the majority class itself: same predictions as the baseline, no evidence
        assert compared["accuracy"].p_value == 1.0 and compared["accuracy"].difference == 0.0


def test_collapse_wins_over_a_significant_p_value():
    labels = np.array([1] * 57 + [0, 2, 0])
    proba = one_hot(labels)  # 95% neutral, every window right
    oof = table(proba, labels=labels)
    compared = significance.paired_comparison(oof, one_hot(np.zeros(60, dtype=int)), n_resamples=50)
    assert compared["accuracy"].p_value < 1e-9
    collapse = significance.class_collapse(labels, proba, CLASSES, threshold=0.9)
    assert significance.verdict(compared["accuracy"], collapse, "logistic", no_skill=skill()).text.startswith(
        "collapsed to neutral"
    )
    relaxed = significance.class_collapse(labels, proba, CLASSES, threshold=0.96)
    assert significance.verdict(compared["accuracy"], relaxed, "logistic", no_skill=skill()).text.startswith(
        "beats the logistic baseline"
    )


def test_coins_never_beat_the_majority_baseline_and_coin_pairs_give_uniform_p_values():
    collapse_free = significance.class_collapse(LABELS, coin(0), CLASSES)
    beats, p_values = 0, []
    for seed in range(300):
        model, other = coin(seed), coin(10_000 + seed)
        correct_model, correct_other = model.argmax(1) == LABELS, other.argmax(1) == LABELS
        p_majority = significance.mcnemar_exact(correct_model, LABELS == 1)
        beats += p_majority < 0.05
        p_values.append(significance.mcnemar_exact(correct_model, correct_other))
    assert collapse_free.collapsed_to is None
    assert beats / 300 <= 0.05  # a coin is right a third of the time, the majority class half
    p_values = np.array(p_values)
    # Two coins are equally good: p is (conservatively, it is discrete) uniform.
    assert np.mean(p_values < 0.05) <= 0.07
    assert 0.3 <= np.mean(p_values < 0.5) <= 0.6
    assert 0.65 <= np.mean(p_values < 0.8) <= 0.9


def test_permutation_p_of_coin_against_coin_is_not_small_and_identical_predictions_give_one():
    oof = table(coin(1))
    same = significance.paired_comparison(oof, oof.proba, n_resamples=50)
    assert all(c.p_value == 1.0 and c.difference == 0.0 for c in same.values())
    p_brier = [
        significance.paired_comparison(table(coin(s)), coin(500 + s), n_resamples=60, names=("brier",))["brier"].p_value
        for s in range(12)
    ]
    assert np.mean(np.array(p_brier) < 0.05) <= 2 / 12


def test_verdict_reads_alpha_and_refuses_bad_values():
    oof = table(one_hot(LABELS))
    compared = significance.paired_comparison(oof, majority(), n_resamples=20)["accuracy"]
    collapse = significance.class_collapse(LABELS, oof.proba, CLASSES)
    stricter = dataclass_replace(compared, p_value=0.03)
    assert significance.verdict(stricter, collapse, "majority", no_skill=skill()).beats
    said = significance.verdict(stricter, collapse, "majority", alpha=0.01, no_skill=skill())
    assert not said.beats and said.text == "not distinguishable from the majority baseline (p = 0.03)"
    with pytest.raises(MoolaError, match="evaluate.alpha"):
        significance.verdict(compared, collapse, "majority", alpha=1.5, no_skill=skill())
    with pytest.raises(MoolaError, match="collapse_threshold"):
        significance.class_collapse(LABELS, oof.proba, CLASSES, threshold=0)


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


# ----- the bootstrap ----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=40), st.integers(1, 5), st.integers(0, 10**6))
def test_resamples_keep_each_fold_inside_itself_at_its_size(fold_values, block_size, seed):
    fold = np.sort(np.asarray(fold_values))
    resamples = significance.stratified_resamples(fold, 30, seed, block_size)
    assert resamples.shape == (30, fold.size)
    assert np.array_equal(fold[resamples], np.broadcast_to(fold, resamples.shape))
    assert np.array_equal(resamples, significance.stratified_resamples(fold, 30, seed, block_size))


def test_block_resamples_are_runs_of_consecutive_rows():
    fold = np.zeros(12, dtype=int)
    resamples = significance.stratified_resamples(fold, 50, 3, block_size=4)
    steps = np.diff(resamples, axis=1)[:, [0, 1, 2, 4, 5, 6, 8, 9, 10]]  # inside each block of 4
    assert np.all((steps == 1) | (steps == -11))  # next row, or wrap around the fold


def test_intervals_are_seeded_contain_the_estimate_and_match_the_metrics_pack():
    proba = np.random.default_rng(4).dirichlet([1, 1, 1], len(LABELS))
    oof = table(proba)
    first = significance.bootstrap_intervals(oof, n_resamples=150, seed=9)
    assert first == significance.bootstrap_intervals(oof, n_resamples=150, seed=9)
    assert first != significance.bootstrap_intervals(oof, n_resamples=150, seed=10)
    pack = metrics.metrics_pack(LABELS, proba, CLASSES, 10)
    for name, interval in first.items():
        assert interval.value == pytest.approx(pack[name])
        assert interval.ci_low <= interval.value <= interval.ci_high
        assert interval.ci_low < interval.ci_high


@pytest.mark.parametrize("kind", ["dirichlet", "one_hot", "ties"])
def test_vectorised_resampling_equals_the_metrics_on_each_resample(kind):
    rng = np.random.default_rng(6)
    proba = {
        "dirichlet": rng.dirichlet([1, 1, 1], len(LABELS)),
        "one_hot": coin(6),
        "ties": np.tile([0.3, 0.4, 0.3], (len(LABELS), 1)),  # confidence on a bin edge, one class
    }[kind]
    resamples = significance.stratified_resamples(FOLDS, 5, 0)
    fast = significance._resampled_values(LABELS, proba, resamples, 10, significance.METRICS)
    for b, rows in enumerate(resamples):
        slow = significance.metric_values(LABELS[rows], proba[rows], 10)
        assert fast[b] == pytest.approx([slow[m] for m in significance.METRICS])
    swaps = rng.random((4, len(LABELS))) < 0.5
    other = rng.dirichlet([1, 1, 1], len(LABELS))
    swapped = significance._swapped_draws(table(proba), other, swaps, 10, significance.METRICS)
    for b, swap in enumerate(swaps):
        flip = swap[:, None]
        a = significance.metric_values(LABELS, np.where(flip, other, proba), 10)
        c = significance.metric_values(LABELS, np.where(flip, proba, other), 10)
        assert swapped[b] == pytest.approx([a[m] - c[m] for m in significance.METRICS])


def test_interval_width_shrinks_with_more_windows():
    rng = np.random.default_rng(0)
    widths = []
    for n in (30, 480):
        labels = rng.integers(0, 3, n)
        right = rng.random(n) < 0.6
        predicted = np.where(right, labels, (labels + 1) % 3)
        oof = significance.OutOfFold(np.arange(n), np.zeros(n), labels, one_hot(predicted), CLASSES)
        interval = significance.bootstrap_intervals(oof, n_resamples=150)["accuracy"]
        widths.append(interval.ci_high - interval.ci_low)
    assert widths[1] < widths[0] / 2.5  # about 1 / sqrt(16) = 1/4


def test_accuracy_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    n, true_accuracy, covered = 60, 0.6, 0
    for trial in range(120):
        labels = rng.integers(0, 3, n)
        predicted = np.where(rng.random(n) < true_accuracy, labels, (labels + 1) % 3)
        oof = significance.OutOfFold(np.arange(n), np.repeat([0, 1, 2], 20), labels, one_hot(predicted), CLASSES)
        interval = significance.bootstrap_intervals(oof, n_resamples=100, seed=trial, names=("accuracy",))["accuracy"]
        covered += interval.ci_low <= true_accuracy <= interval.ci_high
    assert 0.86 <= covered / 120 <= 0.995  # percentile bootstrap at n = 60: close to nominal


# ----- comparing two runs -----------------------------------------------------------------


def test_compare_runs_matches_windows_by_id_whatever_the_order():
    good, bad = table(one_hot(LABELS)), table(coin(3))
    shuffled = good.rows(np.random.default_rng(0).permutation(good.n)[:45])
    n_common, compared = significance.compare_runs(shuffled, bad, n_resamples=100)
    assert n_common == 45
    expected = metrics.accuracy(LABELS, one_hot(LABELS)) - np.mean(
        bad.proba.argmax(1)[np.isin(bad.window_id, shuffled.window_id)]
        == LABELS[np.isin(bad.window_id, shuffled.window_id)]
    )
    assert compared["accuracy"].difference == pytest.approx(expected)
    assert compared["accuracy"].alternative == "two-sided" and compared["accuracy"].p_value < 1e-6
    assert compared["accuracy"].ci_low > 0


def test_compare_runs_refuses_other_labels_and_no_common_window():
    run = table(one_hot(LABELS))
    relabelled = table(one_hot(LABELS), labels=(LABELS + 1) % 3)
    with pytest.raises(MoolaError, match="different labels"):
        significance.compare_runs(run, relabelled)
    elsewhere = table(one_hot(LABELS), ids=[f"x{i}" for i in range(60)])
    with pytest.raises(MoolaError, match="no out-of-fold window in common"):
        significance.compare_runs(run, elsewhere)


# ----- the table and the baselines --------------------------------------------------------


def test_out_of_fold_table_round_trips_and_refuses_bad_tables():
    oof = table(np.random.default_rng(2).dirichlet([1, 1, 1], len(LABELS)))
    frame = oof.to_frame()
    assert list(frame.columns) == [
        "window_id",
        "fold",
        "y_true",
        "proba_down",
        "proba_neutral",
        "proba_up",
        "predicted",
    ]
    back = significance.OutOfFold.from_frame(frame, CLASSES)
    assert np.array_equal(back.proba, oof.proba) and np.array_equal(back.window_id, oof.window_id)
    frame.loc[0, "predicted"] = (frame.loc[0, "predicted"] + 1) % 3
    with pytest.raises(MoolaError, match="arg-max"):
        significance.OutOfFold.from_frame(frame, CLASSES, "runs/x/out_of_fold.parquet")
    with pytest.raises(MoolaError, match="missing column"):
        significance.OutOfFold.from_frame(frame.drop(columns="fold"), CLASSES)
    with pytest.raises(MoolaError, match="appears twice"):
        table(oof.proba, ids=["same"] * 60)


def test_logistic_baseline_learns_a_separable_feature_and_fills_absent_classes():
    rng = np.random.default_rng(0)
    labels = np.array([0, 2] * 30)
    features = rng.normal(size=(60, 20))
    features[:, 3] += 4.0 * (labels == 2)
    proba = significance.logistic_baseline_proba(features[:40], labels[:40], features[40:], 3)
    assert proba.shape == (20, 3) and np.allclose(proba.sum(1), 1) and np.all(proba[:, 1] == 0)
    assert np.mean(proba.argmax(1) == labels[40:]) >= 0.9
    single = significance.logistic_baseline_proba(features[:5], np.ones(5, dtype=int), features[:3], 3)
    assert np.array_equal(single, one_hot([1, 1, 1]))


def test_out_of_fold_over_walk_forward_folds_and_the_whole_pack():
    day = pd.Timedelta("1D").value
    n = 90
    starts = np.arange(n, dtype=np.int64) * 10 * day
    plan = folds.walk_forward(starts, starts + 5 * day, 3, 0.4, 0.15, pd.Timedelta("0D"))
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, n)
    features = rng.normal(size=(n, 20))
    features[:, 0] += 3.0 * labels  # a real, learnable signal
    ids = [f"w{i}" for i in range(n)]
    tables = {
        name: significance.out_of_fold(plan.folds, fit, features, labels, ids, CLASSES)
        for name, fit in significance.BASELINES.items()
    }
    assert tables["logistic"].n == sum(f.test.size for f in plan.folds)
    backwards = significance.out_of_fold(
        plan.folds, significance.BASELINES["majority"], features, labels, ids, CLASSES, starts=-starts
    )
    assert backwards.window_id.tolist() == [i for f in plan.folds for i in np.asarray(ids)[f.test[::-1]]]
    assert np.unique(tables["logistic"].fold).tolist() == [0, 1, 2]
    model = tables["logistic"]
    pack = significance.significance_pack(model, {"majority": tables["majority"].proba}, n_resamples=100, seed=3)
    assert pack["beats"] == {"majority": 1} and pack["verdict"]["majority"].startswith("beats the majority baseline")
    assert set(pack["metrics"]["accuracy"]) == {"value", "ci_low", "ci_high"}
    assert set(pack["vs_majority"]["brier"]) == {"difference", "ci_low", "ci_high", "p_value"}
    assert pack["collapse"]["collapsed"] == 0


def test_beating_the_logistic_baseline_but_not_the_majority_says_so():
    rng = np.random.default_rng(5)
    # Skill without beating the majority class: right on half the neutral windows and on 60% of
    # the others (neutral on the rest), about as accurate as always saying "neutral".
    chance = rng.random(len(LABELS))
    skilled = np.where(
        LABELS == 1,
        np.where(chance < 0.5, 1, 2 - 2 * rng.integers(0, 2, len(LABELS))),
        np.where(chance < 0.6, LABELS, 1),
    )
    oof = table(one_hot(skilled))
    worse = one_hot((LABELS + 1) % 3)  # a baseline wrong on every window
    pack = significance.significance_pack(oof, {"logistic": worse, "majority": majority()}, n_resamples=200)
    assert pack["beats"] == {"majority": 0, "logistic": 1} and pack["no_skill"]["beats"] == 1
    assert ", but not the majority baseline; with 60 windows only a gain of " in pack["verdict"]["logistic"]
    assert pack["verdict"]["majority"].startswith("not distinguishable from the majority baseline (p = ")


# ----- the no-skill null and the detectable effect ---------------------------------------


def test_no_skill_test_sees_a_perfect_model_and_not_a_model_that_knows_only_each_folds_class_mix():
    perfect = significance.no_skill_test(table(one_hot(LABELS)), n_resamples=199, seed=4)
    assert perfect.p_value == pytest.approx(1 / 200) and perfect.accuracy == 1.0
    assert perfect.permuted_accuracy < 0.6
    # Predicting each fold's own most common label: right often, but within a fold its
    # predictions are constant, so every permutation scores the same: no skill at all.
    fold_majority = np.concatenate([np.full(20, np.bincount(LABELS[FOLDS == f]).argmax()) for f in range(3)])
    knows_mix = significance.no_skill_test(table(one_hot(fold_majority)), n_resamples=199, seed=4)
    assert knows_mix.p_value == 1.0 and knows_mix.text(0.05).startswith(
        "no evidence of skill (within-fold permutation p = 1)"
    )
    again = significance.no_skill_test(table(one_hot(LABELS)), n_resamples=199, seed=4)
    assert again == perfect and perfect.text(0.05) == "above no skill (within-fold permutation p = 0.005)"


def test_a_significant_mcnemar_without_skill_is_not_a_beats():
    oof = table(one_hot(LABELS))
    compared = significance.paired_comparison(oof, majority(), n_resamples=20)["accuracy"]
    collapse = significance.class_collapse(LABELS, oof.proba, CLASSES)
    said = significance.verdict(compared, collapse, "majority", no_skill=skill(0.41))
    assert not said.beats
    assert said.text == (
        f"not shown to beat the majority baseline (p = {compared.p_value:.3g}): no evidence of skill "
        "(within-fold permutation p = 0.41)"
    )


def drifting_labels(rng, per_fold=30, share=0.8):
    """3 folds; fold f is mostly class f, so the previous fold's majority class is rare in it."""
    labels = [np.where(rng.random(per_fold) < share, f, rng.integers(0, 3, per_fold)) for f in range(3)]
    return np.concatenate(labels), np.repeat([0, 1, 2], per_fold)


def test_on_labels_independent_of_the_predictions_no_verdict_beats_more_often_than_alpha_whatever_the_drift():
    from scipy.stats import binomtest

    runs, alpha, any_beats, mcnemar_alone = 300, 0.05, 0, 0
    for seed in range(runs):
        rng = np.random.default_rng([seed, 25])
        labels, fold = drifting_labels(rng)
        # The majority baseline is fitted on the train part: the previous fold's majority class.
        baseline = one_hot(np.concatenate([np.full(30, (f - 1) % 3) for f in range(3)]))
        other = one_hot(rng.integers(0, 3, labels.size))  # a second, label-independent baseline
        oof = table(
            one_hot(rng.integers(0, 3, labels.size)),
            labels=labels,
            fold=fold,
            ids=[f"w{i}" for i in range(labels.size)],
        )  # the cheap fake model: coin flips
        collapse = significance.class_collapse(labels, oof.proba, CLASSES)
        no_skill = significance.no_skill_test(oof, n_resamples=199, seed=seed)
        beats = False
        for name, proba in (("majority", baseline), ("logistic", other)):
            compared = significance.paired_comparison(oof, proba, n_resamples=20, seed=seed, names=("accuracy",))
            beats |= significance.verdict(compared["accuracy"], collapse, name, alpha, no_skill=no_skill).beats
            mcnemar_alone += name == "majority" and compared["accuracy"].p_value < alpha
        any_beats += beats
    assert np.mean(metrics.accuracy(labels, baseline)) < 1 / 3  # the drift puts the majority below chance
    # Clopper-Pearson: the claimed rate is not above alpha, McNemar against the majority alone is.
    assert binomtest(any_beats, runs).proportion_ci(0.99, method="exact").low <= alpha
    assert binomtest(int(mcnemar_alone), runs).proportion_ci(0.99, method="exact").low > alpha


def test_pack_carries_no_skill_and_the_detectable_effect_beside_every_verdict():
    oof = table(coin(3))
    pack = significance.significance_pack(oof, {"majority": majority(), "logistic": coin(4)}, n_resamples=100, seed=2)
    assert set(pack["no_skill"]) == {"p_value", "beats", "accuracy", "permuted_accuracy"}
    assert pack["skill"].startswith(("above no skill", "no evidence of skill"))
    for name in ("majority", "logistic"):
        block = pack[f"vs_{name}"]
        assert 0 < block["detectable_effect"] <= 1 and block["windows_for_10_points"] >= 1
        found = significance.detectable(
            significance.paired_comparison(
                oof, majority() if name == "majority" else coin(4), n_resamples=20, names=("accuracy",)
            )["accuracy"],
            0.05,
        )
        assert block["detectable_effect"] == found["detectable_effect"]
        assert pack["verdict"][name].endswith(power.detectability_text(found))
        assert "; with 60 windows only a gain of " in pack["verdict"][name]
    assert pack["tests"]["detectable_effect"] == power.METHOD and pack["tests"]["no_skill"] == significance.NO_SKILL


def test_two_run_comparisons_take_the_detectable_effect_at_half_alpha():
    oof = table(coin(5))
    _, compared = significance.compare_runs(oof, table(coin(6)), n_resamples=20)
    two_sided = significance.detectable(compared["accuracy"], 0.05)
    c = compared["accuracy"]
    assert two_sided == power.detectability(c.n, c.model_only, c.other_only, 0.025)
    with pytest.raises(MoolaError, match="accuracy"):
        significance.detectable(compared["brier"], 0.05)
