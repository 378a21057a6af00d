"""The metrics pack against scikit-learn on fixed inputs, and Brier/ECE against hand computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, f1_score

from moola.evaluation import metrics

CLASSES = ["down", "neutral", "up"]


def _fixed_inputs(seed: int = 0, n: int = 40):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 3, n)
    return labels, proba


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_and_f1_match_sklearn(seed):
    labels, proba = _fixed_inputs(seed)
    predicted = proba.argmax(axis=1)
    assert metrics.accuracy(labels, proba) == pytest.approx(accuracy_score(labels, predicted))
    expected_f1 = f1_score(labels, predicted, labels=[0, 1, 2], average=None, zero_division=0)
    assert metrics.f1_per_class(labels, proba) == pytest.approx(list(expected_f1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_precision_matches_sklearn_per_class(seed):
    labels, proba = _fixed_inputs(seed)
    for k in range(3):
        expected = average_precision_score(labels == k, proba[:, k])
        assert metrics.average_precision(labels == k, proba[:, k]) == pytest.approx(expected)


def test_average_precision_with_tied_scores_matches_sklearn():
    positive = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
    scores = np.array([0.5, 0.5, 0.5, 0.2, 0.2, 0.9, 0.1, 0.1])
    assert metrics.average_precision(positive, scores) == pytest.approx(average_precision_score(positive, scores))


def test_macro_pr_auc_is_mean_of_one_vs_rest_average_precisions():
    labels, proba = _fixed_inputs(5)
    pack = metrics.metrics_pack(labels, proba, CLASSES, ece_bins=10)
    expected = np.mean([average_precision_score(labels == k, proba[:, k]) for k in range(3)])
    assert pack["pr_auc_macro"] == pytest.approx(expected)
    assert pack["classes_absent"] == 0


def test_brier_by_hand():
    labels = np.array([0, 2])
    proba = np.array([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]])
    # row 0: 0.3^2 + 0.2^2 + 0.1^2 = 0.14 ; row 1: 0.5^2 + 0.25^2 + 0.75^2 = 0.875
    assert metrics.brier_score(labels, proba) == pytest.approx((0.14 + 0.875) / 2)


def test_brier_bounds():
    assert metrics.brier_score([1], np.array([[0.0, 1.0, 0.0]])) == 0.0
    assert metrics.brier_score([1], np.array([[1.0, 0.0, 0.0]])) == pytest.approx(2.0)


def test_ece_by_hand():
    labels = np.array([0, 0, 1, 2, 2])
    proba = np.array(
        [
            [0.95, 0.03, 0.02],  # conf 0.95, right   -> bin (0.9, 1.0]
            [0.05, 0.92, 0.03],  # conf 0.92, wrong   -> bin (0.9, 1.0]
            [0.30, 0.60, 0.10],  # conf 0.60, right   -> bin (0.5, 0.6]
            [0.40, 0.35, 0.25],  # conf 0.40, wrong   -> bin (0.3, 0.4]
            [0.20, 0.35, 0.45],  # conf 0.45, right   -> bin (0.4, 0.5]
        ]
    )
    # bins: (0.9,1]: acc 0.5, conf 0.935 -> 2/5 * 0.435 ; (0.5,0.6]: 1/5 * 0.4 ;
    #       (0.3,0.4]: 1/5 * 0.4 ; (0.4,0.5]: 1/5 * 0.55
    expected = 2 / 5 * 0.435 + 1 / 5 * 0.4 + 1 / 5 * 0.4 + 1 / 5 * 0.55
    assert metrics.expected_calibration_error(labels, proba, bins=10) == pytest.approx(expected)
    table = metrics.reliability_bins(labels, proba, bins=10)
    assert [(b.lower, b.count) for b in table] == [
        (pytest.approx(0.3), 1),
        (pytest.approx(0.4), 1),
        (pytest.approx(0.5), 1),
        (pytest.approx(0.9), 2),
    ]


def test_ece_bin_edges_are_closed_on_the_right():
    # Confidence exactly 0.5 belongs to (0.4, 0.5], not (0.5, 0.6].
    table = metrics.reliability_bins([0], np.array([[0.5, 0.3, 0.2]]), bins=10)
    assert table[0].upper == pytest.approx(0.5)


def test_absent_class_is_left_out_of_macro_pr_auc_and_json_has_no_nan():
    labels = np.array([0, 0, 2, 2, 0])  # no "neutral" row
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    pack = metrics.metrics_pack(labels, proba, CLASSES, ece_bins=5)
    assert set(pack["average_precision"]) == {"down", "up"}
    assert pack["classes_absent"] == 1
    expected = np.mean([average_precision_score(labels == k, proba[:, k]) for k in (0, 2)])
    assert pack["pr_auc_macro"] == pytest.approx(expected)
    json.dumps(pack, allow_nan=False)  # raises on NaN or inf


def test_majority_baseline_uses_train_frequencies():
    baseline = metrics.majority_baseline_proba([2, 2, 1, 0, 2], n_rows=3, n_classes=3)
    assert baseline.shape == (3, 3)
    assert baseline[0] == pytest.approx([0.2, 0.2, 0.6])
    # Always the majority class of train: accuracy = share of that class in the scored part.
    assert metrics.accuracy([2, 0, 2], baseline) == pytest.approx(2 / 3)


def test_bad_probabilities_are_refused():
    with pytest.raises(metrics.MoolaError, match="NaN"):
        metrics.accuracy([0], np.array([[np.nan, 0.5, 0.5]]))
    with pytest.raises(metrics.MoolaError, match="labels must lie"):
        metrics.accuracy([3], np.array([[0.2, 0.3, 0.5]]))


# ----- the resampling kernels equal scikit-learn's functions ---------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def _scored_rows(draw):
    """Labels in 0..K-1 and (n, K) probabilities with ties (scores on a coarse grid)."""
    n_classes = draw(st.integers(min_value=2, max_value=4))
    n = draw(st.integers(min_value=1, max_value=40))
    labels = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    raw = np.array(draw(st.lists(st.integers(0, 5), min_size=n * n_classes, max_size=n * n_classes)), dtype=float)
    raw = raw.reshape(n, n_classes) + 1e-3
    return labels, raw / raw.sum(axis=1, keepdims=True)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(rows=_scored_rows())
def test_resampling_kernels_equal_scikit_learn(rows):
    from moola.evaluation import metrics as m

    labels, probs = rows
    n_classes = probs.shape[1]
    predicted = m.predicted_classes(probs)
    for k in range(n_classes):
        expected = m.average_precision(labels == k, probs[:, k])
        found = m.resampled_average_precision(labels == k, probs[:, k])
        assert (expected is None and found is None) or abs(expected - found) < 1e-12
    assert np.allclose(
        m.resampled_f1_per_class(labels, predicted, n_classes), m.f1_per_class(labels, probs), atol=1e-12
    )
    assert abs(m.resampled_brier(labels, probs) - m.brier_score(labels, probs)) < 1e-12
