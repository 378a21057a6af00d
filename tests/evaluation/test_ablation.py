"""evaluation/ablation.py: full vs ablated on identical windows, "adds" only when the test says so."""

from __future__ import annotations

import numpy as np
import pytest

from moola.errors import MoolaError
from moola.evaluation.ablation import ablation_effect, ablation_report, requested_reasons, require_same_windows
from moola.evaluation.power import detectability
from moola.evaluation.significance import OutOfFold

CLASSES = ("down", "neutral", "up")
SETTINGS = dict(alpha=0.05, n_resamples=200, seed=3, ece_bins=10)


def _table(labels: np.ndarray, predicted: np.ndarray) -> OutOfFold:
    proba = np.full((labels.size, 3), 0.1)
    proba[np.arange(labels.size), predicted] = 0.8
    ids = [f"AAA@{i:03d}" for i in range(labels.size)]
    return OutOfFold(ids, np.arange(labels.size) % 2, labels, proba, CLASSES)


def _pair(n: int, ablated_wrong: int, seed: int = 0) -> tuple[OutOfFold, OutOfFold]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    ablated = labels.copy()
    ablated[:ablated_wrong] = (labels[:ablated_wrong] + 1) % 3  # the ablated fit misses these windows
    return _table(labels, labels), _table(labels, ablated)


def test_a_clear_gain_is_said_to_add_with_its_detectable_effect():
    full, ablated = _pair(60, 20)
    numbers, sentence = ablation_effect(full, ablated, "pretraining", **SETTINGS)
    assert numbers["difference"] == pytest.approx(20 / 60)
    assert numbers["ci_low"] <= numbers["difference"] <= numbers["ci_high"]
    assert numbers["p_value"] == pytest.approx(0.5**20) and numbers["adds"] == 1
    expected = detectability(60, 20, 0, 0.05)
    assert numbers["detectable_effect"] == expected["detectable_effect"]
    assert numbers["windows_for_10_points"] == expected["windows_for_target"]
    assert sentence.startswith("pretraining adds +0.333 [") and "labels for 10" in sentence


def test_no_gain_is_never_said_to_add():
    full, ablated = _pair(40, 0)
    numbers, sentence = ablation_effect(full, ablated, "augmentation", **SETTINGS)
    assert numbers["difference"] == 0 and numbers["p_value"] == 1.0 and numbers["adds"] == 0
    assert (
        sentence.startswith("synthetic rows: +0.000") and "not distinguishable" in sentence and " adds " not in sentence
    )


def test_the_comparison_needs_identical_windows_in_the_same_order():
    full, ablated = _pair(30, 5)
    order = np.r_[1, 0, np.arange(2, 30)]
    with pytest.raises(MoolaError, match="other windows"):
        require_same_windows(full, ablated.rows(order), "pretraining")
    with pytest.raises(MoolaError, match="other windows"):
        require_same_windows(full, ablated.rows(np.arange(29)), "pretraining")
    relabeled = OutOfFold(ablated.window_id, ablated.fold, (ablated.y_true + 1) % 3, ablated.proba, CLASSES)
    with pytest.raises(MoolaError, match="other folds or labels"):
        ablation_effect(full, relabeled, "pretraining", **SETTINGS)


def test_report_marks_what_does_not_apply_and_refuses_a_missing_table():
    full, ablated = _pair(30, 5)
    numbers, sentences = ablation_report(
        full, {"pretraining": ablated}, {"pretraining": None, "augmentation": "train.augment is false"}, **SETTINGS
    )
    assert numbers["augmentation"] == {"applies": 0} and numbers["pretraining"]["applies"] == 1
    assert sentences["augmentation"] == "synthetic rows: not applicable (train.augment is false)"
    with pytest.raises(MoolaError, match="no out-of-fold table of the augmentation ablation"):
        ablation_report(full, {}, {"augmentation": None}, **SETTINGS)


def test_reasons_come_from_the_training_record():
    recorded = {"pretraining": {"applies": 1}, "augmentation": {"applies": 0, "reason": "train.augment is false"}}
    assert requested_reasons(recorded, ["augmentation", "pretraining"], "abc") == {
        "augmentation": "train.augment is false",
        "pretraining": None,
    }
    assert requested_reasons(recorded, [], "abc") == {}
    with pytest.raises(MoolaError, match="run abc was trained without the pretraining ablation"):
        requested_reasons({}, ["pretraining"], "abc")
