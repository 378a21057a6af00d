"""The metrics pack: accuracy, macro PR-AUC, class-wise F1, multi-class Brier (scikit-learn), top-label ECE (ours).

Every function takes integer labels `y_true` (n,) in 0..K-1 and a probability matrix
`proba` (n, K) whose rows sum to 1, and returns plain Python floats, so the pack can be written
as nested numeric JSON for `dvc metrics diff`. No result is ever NaN; the rules for undefined
cases are stated where they arise (and in docs/METRICS.md).

Definitions (K classes, n rows, p_ik the probability of class k for row i):
- accuracy: share of rows whose arg-max class equals the label (ties: the lowest class index).
- average precision of class k (one-vs-rest, scikit-learn's average_precision_score): sum over
  the ranked rows of (R_j - R_{j-1}) * P_j, the step-wise area under the precision-recall
  curve, scores p_ik, positives y_i == k; tied scores are one threshold.
- macro PR-AUC: the mean of the per-class average precisions over the classes present in the
  part (a class with no positive row has no precision-recall curve; it is left out and reported
  in `classes_absent`).
- F1 of class k (scikit-learn's f1_score, zero_division 0): 2 * precision * recall /
  (precision + recall) with arg-max predictions; 0 when the class is neither predicted nor present.
- Brier (scikit-learn's brier_score_loss, unscaled): mean over rows of sum_k (p_ik - [y_i == k])^2,
  range 0 (perfect) to 2.
- ECE (top-label): rows binned by their top probability into `bins` equal-width bins over
  [0, 1] (first bin closed on the left, every bin closed on the right); the count-weighted
  mean over bins of |accuracy in bin - mean top probability in bin|.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from moola.errors import MoolaError


def _check_inputs(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y_true)
    probs = np.asarray(proba, dtype=np.float64)
    if probs.ndim != 2:
        raise MoolaError(f"probabilities must be a (rows, classes) matrix, got shape {probs.shape}")
    if labels.shape != (probs.shape[0],):
        raise MoolaError(f"labels of shape {labels.shape} do not match {probs.shape[0]} probability rows")
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise MoolaError(f"labels must lie in 0..{probs.shape[1] - 1}, got {labels.min()}..{labels.max()}")
    if not np.all(np.isfinite(probs)):
        raise MoolaError("probabilities contain NaN or inf: the model diverged; lower train.lr and retrain")
    return labels.astype(np.int64), probs


def predicted_classes(proba: np.ndarray) -> np.ndarray:
    """Arg-max class per row (ties go to the lowest class index)."""
    return np.asarray(proba).argmax(axis=1)


def accuracy(y_true: Sequence[int], proba: np.ndarray) -> float:
    """Share of rows whose arg-max class equals the label (0.0 for an empty part)."""
    from sklearn.metrics import accuracy_score

    labels, probs = _check_inputs(np.asarray(y_true), proba)
    if labels.size == 0:
        return 0.0
    return float(accuracy_score(labels, predicted_classes(probs)))


def average_precision(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """One-vs-rest average precision (scikit-learn's `average_precision_score`).

    Args:
        is_positive: bool (n,), the rows of the class.
        scores: float (n,), higher means more likely positive.

    Returns:
        AP in [0, 1], or None when there is no positive row (the curve does not exist).
    """
    from sklearn.metrics import average_precision_score

    positive = np.asarray(is_positive, dtype=bool)
    if not positive.any():
        return None
    return float(average_precision_score(positive, np.asarray(scores, dtype=np.float64)))


def f1_per_class(y_true: Sequence[int], proba: np.ndarray) -> list[float]:
    """F1 of each class with arg-max predictions (0.0 where precision and recall are both undefined)."""
    from sklearn.metrics import f1_score

    labels, probs = _check_inputs(np.asarray(y_true), proba)
    classes = list(range(probs.shape[1]))
    if labels.size == 0:
        return [0.0] * len(classes)
    scores = f1_score(labels, predicted_classes(probs), labels=classes, average=None, zero_division=0.0)
    return [float(v) for v in scores]


def brier_score(y_true: Sequence[int], proba: np.ndarray) -> float:
    """Multi-class Brier: mean over rows of the squared distance to the one-hot label (0..2).

    scikit-learn's `brier_score_loss` with the classes named, unscaled, so a binary set has the
    same 0..2 range as a multi-class one.
    """
    from sklearn.metrics import brier_score_loss

    labels, probs = _check_inputs(np.asarray(y_true), proba)
    if labels.size == 0:
        return 0.0
    return float(brier_score_loss(labels, probs, labels=list(range(probs.shape[1])), scale_by_half=False))


# ----- resampling kernels --------------------------------------------------------------------------
# The bootstrap and the paired tests score thousands of resamples; scikit-learn's input checks
# cost about 4 ms per call there (two minutes of a tiny project's `moola evaluate`). These are
# the same definitions in plain numpy on already-checked arrays; tests/evaluation/test_metrics.py
# holds them equal to scikit-learn's functions above within 1e-12 on generated inputs.


def resampled_average_precision(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """`average_precision` without input checks: bool (n,), float (n,) -> AP, None without positives."""
    n_positive = int(positive.sum())
    if n_positive == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")  # (n,) descending score
    ranked = scores[order]
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])  # last row of each distinct threshold
    true_positives = np.cumsum(positive[order])[ends]
    precision = true_positives / (ends + 1)
    recall = true_positives / n_positive
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def resampled_f1_per_class(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """`f1_per_class` without input checks: (K,) F1 of each class, 0 where it is neither predicted nor present."""
    true_positive = np.bincount(labels[labels == predicted], minlength=n_classes)
    denominator = np.bincount(labels, minlength=n_classes) + np.bincount(predicted, minlength=n_classes)
    return np.divide(2.0 * true_positive, denominator, out=np.zeros(n_classes), where=denominator > 0)


def resampled_brier(labels: np.ndarray, probs: np.ndarray) -> float:
    """`brier_score` without input checks: mean squared distance to the one-hot label."""
    onehot = np.zeros_like(probs)
    onehot[np.arange(labels.size), labels] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


@dataclass(frozen=True)
class ReliabilityBin:
    """One non-empty confidence bin of the reliability diagram."""

    lower: float
    upper: float
    confidence: float  # mean top-label probability of the rows in the bin
    accuracy: float  # share of those rows predicted right
    count: int


def reliability_bins(y_true: Sequence[int], proba: np.ndarray, bins: int) -> list[ReliabilityBin]:
    """Top-label reliability bins: equal-width over [0, 1], empty bins left out.

    Bin b covers (b/bins, (b+1)/bins]; the first also holds confidence 0.
    """
    if bins < 1:
        raise MoolaError(f"params key evaluate.ece_bins must be >= 1, got {bins}")
    labels, probs = _check_inputs(np.asarray(y_true), proba)
    confidence = probs.max(axis=1)
    correct = predicted_classes(probs) == labels
    # ceil(c * bins) - 1 puts c in (b/bins, (b+1)/bins]; clip sends c = 0 to the first bin.
    bin_index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    result = []
    for b in range(bins):
        members = bin_index == b
        count = int(members.sum())
        if count == 0:
            continue
        result.append(
            ReliabilityBin(
                lower=b / bins,
                upper=(b + 1) / bins,
                confidence=float(confidence[members].mean()),
                accuracy=float(correct[members].mean()),
                count=count,
            )
        )
    return result


def expected_calibration_error(y_true: Sequence[int], proba: np.ndarray, bins: int) -> float:
    """Top-label ECE with `bins` equal-width bins (0.0 for an empty part)."""
    table = reliability_bins(y_true, proba, bins)
    total = sum(b.count for b in table)
    if total == 0:
        return 0.0
    return float(sum(b.count / total * abs(b.accuracy - b.confidence) for b in table))


def metrics_pack(y_true: Sequence[int], proba: np.ndarray, class_names: Sequence[str], ece_bins: int) -> dict:
    """Every metric of one part (val or test) as nested numeric JSON.

    Args:
        y_true: int labels (n,).
        proba: probabilities (n, K), K == len(class_names).
        class_names: names in class-index order, used as keys of the per-class blocks.
        ece_bins: equal-width bins for ECE.

    Returns:
        {"n", "accuracy", "pr_auc_macro", "brier", "ece", "f1_macro", "f1": {class: f1},
        "average_precision": {class: AP, present classes only}, "classes_absent"}.
    """
    labels, probs = _check_inputs(np.asarray(y_true), proba)
    if probs.shape[1] != len(class_names):
        raise MoolaError(f"{probs.shape[1]} probability columns but {len(class_names)} class names")
    per_class_ap = {}
    for k, name in enumerate(class_names):
        ap = average_precision(labels == k, probs[:, k])
        if ap is not None:
            per_class_ap[name] = ap
    f1 = dict(zip(class_names, f1_per_class(labels, probs), strict=False))
    return {
        "n": int(labels.size),
        "accuracy": accuracy(labels, probs),
        "pr_auc_macro": float(np.mean(list(per_class_ap.values()))) if per_class_ap else 0.0,
        "average_precision": per_class_ap,
        "classes_absent": len(class_names) - len(per_class_ap),
        "f1": f1,
        "f1_macro": float(np.mean(list(f1.values()))),
        "brier": brier_score(labels, probs),
        "ece": expected_calibration_error(labels, probs, ece_bins),
    }


def majority_baseline_proba(train_labels: Sequence[int], n_rows: int, n_classes: int) -> np.ndarray:
    """The majority-class baseline's probabilities: the TRAIN class frequencies on every row.

    Its arg-max is the majority class of train (ties: lowest index), so its accuracy is that of
    always predicting the majority class; its probabilities are the best constant forecast, so
    Brier and ECE compare fairly with a model's.

    Args:
        train_labels: the real train labels.
        n_rows: rows of the part to score.
        n_classes: K.

    Returns:
        float (n_rows, K).
    """
    labels = np.asarray(train_labels, dtype=np.int64)
    if labels.size == 0:
        raise MoolaError("the train part is empty: no majority class to compare with; check the split")
    frequencies = np.bincount(labels, minlength=n_classes).astype(np.float64) / labels.size
    return np.tile(frequencies, (n_rows, 1))  # (K,) -> (n_rows, K)


def evaluation_metrics(
    parts: dict[str, tuple[np.ndarray, np.ndarray]],
    train_labels: Sequence[int],
    class_names: Sequence[str],
    ece_bins: int,
) -> dict:
    """The full metrics pack of a run: the model and the majority baseline on every part.

    Args:
        parts: {"val": (labels, proba), "test": (labels, proba)}.
        train_labels: real train labels (the baseline's class frequencies).
        class_names: names in class-index order.
        ece_bins: equal-width ECE bins.

    Returns:
        {"accuracy": test accuracy, "val": pack, "test": pack, "baseline": {part: pack},
        "vs_baseline": {part: {"accuracy", "pr_auc_macro", "brier"}}} where vs_baseline holds
        model minus baseline (positive accuracy / PR-AUC and negative Brier mean the model is better).
    """
    result: dict = {"val": {}, "test": {}, "baseline": {}, "vs_baseline": {}}
    for name, (labels, proba) in parts.items():
        model_pack = metrics_pack(labels, proba, class_names, ece_bins)
        baseline_pack = metrics_pack(
            labels, majority_baseline_proba(train_labels, len(labels), len(class_names)), class_names, ece_bins
        )
        result[name] = model_pack
        result["baseline"][name] = baseline_pack
        result["vs_baseline"][name] = {
            key: model_pack[key] - baseline_pack[key] for key in ("accuracy", "pr_auc_macro", "brier")
        }
    result["accuracy"] = result["test"]["accuracy"] if "test" in parts else result["val"]["accuracy"]
    return result
