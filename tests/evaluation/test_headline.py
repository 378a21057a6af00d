"""metrics/headline.json: a flat pick of metrics/eval.json's numbers, ablation keys only when fitted."""

from __future__ import annotations

import numpy as np

from moola.evaluation.ablation import ablation_report
from moola.evaluation.report import headline_metrics, out_of_fold_report
from moola.evaluation.significance import OutOfFold, majority_baseline_proba

CLASSES = ("down", "neutral", "up")
SETTINGS = dict(alpha=0.05, n_resamples=200, seed=3, ece_bins=10)
# written out here, not taken from the module: the eval.json leaf each headline key must equal
EXPECTED = {
    "acc": "test.accuracy",
    "acc_lo": "test.accuracy_ci_low",
    "acc_hi": "test.accuracy_ci_high",
    "p_maj": "vs_majority.accuracy.p_value",
    "beat_maj": "beats.majority",
    "p_log": "vs_logistic.accuracy.p_value",
    "beat_log": "beats.logistic",
    "p_skill": "no_skill.p_value",
    "top": "collapse.top_share",
    "detect": "vs_majority.detectable_effect",
}


def _leaves(obj, path=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, f"{path}.{key}" if path else key)
    else:
        yield path, obj


def _table(labels: np.ndarray, predicted: np.ndarray) -> OutOfFold:
    proba = np.full((labels.size, 3), 0.1)
    proba[np.arange(labels.size), predicted] = 0.8
    return OutOfFold([f"AAA@{i:03d}" for i in range(labels.size)], np.arange(labels.size) % 2, labels, proba, CLASSES)


def _eval_metrics(ablate: bool) -> dict:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 60)
    guessed = np.where(rng.random(60) < 0.6, labels, (labels + 1) % 3)
    full = _table(labels, guessed)
    majority = majority_baseline_proba(labels, 60, 3)
    logistic = _table(labels, rng.integers(0, 3, 60)).proba
    baselines = {"majority": majority, "logistic": logistic}
    metrics, _ = out_of_fold_report(full, baselines, collapse_threshold=0.9, **SETTINGS)
    if ablate:
        ablated = _table(labels, np.where(np.arange(60) < 10, (labels + 2) % 3, guessed))
        reasons = {"pretraining": None, "augmentation": "no synthetic cache"}
        metrics["ablation"], _ = ablation_report(full, {"pretraining": ablated}, reasons, **SETTINGS)
    return metrics


def test_every_headline_key_is_an_eval_json_value():
    metrics = _eval_metrics(ablate=True)
    leaves = dict(_leaves(metrics))
    headline = headline_metrics(metrics)
    expected = {**EXPECTED, "pre_gain": "ablation.pretraining.difference", "pre_p": "ablation.pretraining.p_value"}
    assert set(headline) == set(expected)  # augmentation does not apply: no syn_* key, not a 0
    for key, leaf in expected.items():
        assert headline[key] == leaves[leaf], key
        assert isinstance(headline[key], (int, float)) and not isinstance(headline[key], bool)
    assert headline["acc_lo"] <= headline["acc"] <= headline["acc_hi"] and headline["pre_gain"] > 0


def test_absent_ablations_give_no_key():
    headline = headline_metrics(_eval_metrics(ablate=False))
    assert set(headline) == set(EXPECTED)
