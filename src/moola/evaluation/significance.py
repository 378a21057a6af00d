"""Proof that a model learned: intervals, paired tests against baselines, class collapse, honest verdicts.

The input is an out-of-fold predictions table (`OutOfFold`): one row per tested window, the fold
that tested it, its label and the model's class probabilities. Every figure gets a 95% interval
and every comparison is paired on the same windows:

- Intervals (`bootstrap_intervals`): percentile intervals of the fold-stratified bootstrap. Each
  fold's test windows are resampled with replacement within that fold, so every resample keeps
  each fold's size. A fold is a fixed block of time with its own fitted model and its own market
  regime: the design fixes how many windows each block holds, so that count is not a source of
  chance, while resampling windows freely across folds would let a calm block's windows stand
  in for a volatile one's and mix the fold-to-fold shift into the noise. Windows inside one
  fold can still move together (several symbols on the same dates); `block_size > 1` resamples
  runs of consecutive rows (a circular block bootstrap within each fold, rows in time order) to
  keep that dependence.
- Paired comparison (`paired_comparison`, model minus baseline on the same windows): the
  difference of each metric with a paired fold-stratified bootstrap interval, and a one-sided
  p-value for "the model is better". Accuracy uses the exact McNemar test: only the windows
  where exactly one of the two is right carry information, and under "equally accurate" the
  model is the right one on each of them with probability 1/2, so p = P(Binomial(n_01 + n_10,
  1/2) >= n_10). The other metrics use a paired permutation test: under "interchangeable", the
  two predictions of each window may be swapped; p = (1 + #{swapped differences >= observed})
  / (1 + resamples).
- No skill (`no_skill_test`): a within-fold permutation test of the model's accuracy. The labels
  are permuted within each fold against the model's predictions, so each fold keeps its own class
  mix and a class drift between folds creates no skill; p = (1 + #{permuted accuracy >= observed})
  / (1 + resamples).
- Detectable effect (`detectable`, `moola.evaluation.power`): beside each accuracy comparison, the
  smallest true gain its windows would show with 80% power, and the windows a 10-point gain needs.
- Class collapse (`class_collapse`): per-class recall and the share of the most-predicted class;
  a share >= threshold (0.9) is "collapsed to <class>".
- Verdict (`verdict`, the one place of the rule): "beats the <baseline> (p = ...)" only when the
  McNemar p against that baseline is below alpha AND the no-skill p is below alpha AND the model
  has not collapsed. Each null is tested at alpha and both must fall (an intersection-union
  test), so the claim keeps level alpha; the no-skill null is needed because the majority
  baseline is the train part's majority class, which scores below chance on test when the
  classes drift between folds, so McNemar against it alone rejects on label-independent
  predictions. Otherwise "not distinguishable from the <baseline> (p = ...)", "not shown to beat
  the <baseline> (p = ...): no evidence of skill (...)" or "collapsed to <class>".
  A model can beat the logistic baseline without beating the majority class (on noise the
  logistic regression overfits and scores below the majority class); `significance_pack` then
  adds ", but not the majority baseline" to that verdict, and every verdict ends with its
  detectable effect. docs/METRICS.md explains the method.

The metrics are moola's own (`moola.evaluation.metrics`, equal to scikit-learn's where scikit-learn
has them): accuracy, macro F1, macro PR-AUC, multi-class Brier and top-label ECE.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal, Sequence

import numpy as np

from moola.errors import MoolaError
from moola.evaluation import metrics, power

METRICS = ("accuracy", "f1_macro", "pr_auc_macro", "brier", "ece")
HIGHER_IS_BETTER = {"accuracy": True, "f1_macro": True, "pr_auc_macro": True, "brier": False, "ece": False}
MCNEMAR = "exact McNemar (binomial test on the windows where exactly one is right)"
PERMUTATION = "paired permutation (per-window swap of the two predictions)"
NO_SKILL = "within-fold permutation of the labels against the model's predictions (accuracy)"
BASELINE_LABELS = {"majority": "majority baseline", "logistic": "logistic baseline"}
OOF_COLUMNS = ("window_id", "fold", "y_true", "proba_<class> (one per class, in class order)", "predicted")


# ----- the out-of-fold predictions table ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold predictions: one row per tested window, grouped by fold (in time order inside a fold
    when the block bootstrap is to be used).

    As a table (`to_frame`, e.g. `out_of_fold.parquet`) the columns are: `window_id` (str, the
    labeled windows.parquet id), `fold` (int, the fold that tested it), `y_true` (int label),
    `proba_<class>` (float, one column per class in class order, rows sum to 1) and `predicted`
    (int, arg-max of the probabilities, ties to the lowest index). A window id appears once
    (a CPCV run writes one table per backtest path).

    Attributes:
        window_id: (n,) str.
        fold: (n,) int64.
        y_true: (n,) int64 in 0..K-1.
        proba: (n, K) float64.
        class_names: the K class names in class-index order.
    """

    window_id: np.ndarray
    fold: np.ndarray
    y_true: np.ndarray
    proba: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "window_id", np.asarray(self.window_id).astype(str))
        object.__setattr__(self, "fold", np.asarray(self.fold, dtype=np.int64))
        object.__setattr__(self, "y_true", np.asarray(self.y_true, dtype=np.int64))
        object.__setattr__(self, "proba", np.asarray(self.proba, dtype=np.float64))
        object.__setattr__(self, "class_names", tuple(str(name) for name in self.class_names))
        n, k = self.proba.shape if self.proba.ndim == 2 else (-1, -1)
        if self.proba.ndim != 2 or k != len(self.class_names):
            raise MoolaError(
                f"out-of-fold probabilities of shape {self.proba.shape} do not match {len(self.class_names)} class "
                "names"
            )
        if not (self.window_id.shape == self.fold.shape == self.y_true.shape == (n,)):
            raise MoolaError(
                f"out-of-fold columns disagree in length: window_id {self.window_id.shape}, fold {self.fold.shape}, "
                f"y_true {self.y_true.shape}, proba {self.proba.shape}"
            )
        if np.unique(self.window_id).size != n:
            raise MoolaError("out-of-fold table: a window id appears twice; write one table per CPCV path")
        metrics._check_inputs(self.y_true, self.proba)

    @property
    def n(self) -> int:
        return int(self.y_true.size)

    @property
    def predicted(self) -> np.ndarray:
        """(n,) arg-max class of each row."""
        return metrics.predicted_classes(self.proba)

    def rows(self, picked: np.ndarray) -> "OutOfFold":
        """The table restricted to (or reordered by) row indices `picked`."""
        return OutOfFold(
            self.window_id[picked], self.fold[picked], self.y_true[picked], self.proba[picked], self.class_names
        )

    def with_proba(self, proba: np.ndarray) -> "OutOfFold":
        """The same windows with other probabilities (a baseline's, say)."""
        return OutOfFold(self.window_id, self.fold, self.y_true, proba, self.class_names)

    def to_frame(self) -> Any:
        """The table as a pandas DataFrame with the documented columns."""
        import pandas as pd

        frame = pd.DataFrame({"window_id": self.window_id, "fold": self.fold, "y_true": self.y_true})
        for k, name in enumerate(self.class_names):
            frame[f"proba_{name}"] = self.proba[:, k]
        frame["predicted"] = self.predicted
        return frame

    @classmethod
    def from_frame(cls, frame: Any, class_names: Sequence[str], where: str = "out-of-fold table") -> "OutOfFold":
        """Read the table back from a DataFrame with the documented columns.

        Args:
            frame: the DataFrame.
            class_names: class names in class-index order.
            where: the file it came from, for the error message.

        Returns:
            The OutOfFold; a missing column or a `predicted` that is not the arg-max is a MoolaError.
        """
        columns = ["window_id", "fold", "y_true", *[f"proba_{name}" for name in class_names], "predicted"]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise MoolaError(f"{where}: missing column(s) {', '.join(missing)}; rewrite it with moola evaluate")
        table = cls(
            frame["window_id"].to_numpy(),
            frame["fold"].to_numpy(),
            frame["y_true"].to_numpy(),
            frame[columns[3:-1]].to_numpy(dtype=np.float64),
            tuple(class_names),
        )
        if not np.array_equal(table.predicted, frame["predicted"].to_numpy()):
            raise MoolaError(f"{where}: column predicted is not the arg-max of the probabilities; rewrite it")
        return table


# ----- metrics and the bootstrap ----------------------------------------------------------


def metric_values(
    y_true: np.ndarray, proba: np.ndarray, ece_bins: int = 10, names: Sequence[str] = METRICS
) -> dict[str, float]:
    """The headline metrics of `METRICS` (moola's definitions, see `moola.evaluation.metrics`).

    Args:
        y_true: (n,) int labels.
        proba: (n, K) probabilities.
        ece_bins: equal-width bins of the top-label ECE.
        names: the metrics wanted (default: all five).

    Returns:
        {name: float} for each of `names` ("accuracy", "f1_macro", "pr_auc_macro", "brier", "ece").
    """
    labels, probs = metrics._check_inputs(np.asarray(y_true), proba)
    predicted = metrics.predicted_classes(probs)
    result = {}
    for name in names:
        if labels.size == 0 and name in ("accuracy", "f1_macro", "brier"):
            result[name] = 0.0
        elif name == "accuracy":
            result[name] = float(np.mean(predicted == labels))
        elif name == "f1_macro":
            result[name] = float(np.mean(metrics.resampled_f1_per_class(labels, predicted, probs.shape[1])))
        elif name == "pr_auc_macro":
            precisions = [metrics.resampled_average_precision(labels == k, probs[:, k]) for k in range(probs.shape[1])]
            present = [ap for ap in precisions if ap is not None]
            result[name] = float(np.mean(present)) if present else 0.0
        elif name == "brier":
            result[name] = metrics.resampled_brier(labels, probs)
        elif name == "ece":
            result[name] = metrics.expected_calibration_error(labels, probs, ece_bins)
        else:
            raise MoolaError(f"unknown metric {name!r}: choose from {', '.join(METRICS)}")
    return result


def stratified_resamples(fold: np.ndarray, n_resamples: int, seed: int, block_size: int = 1) -> np.ndarray:
    """Row indices of fold-stratified bootstrap resamples (see the module docstring).

    Args:
        fold: (n,) fold of each row; rows of a fold are taken to be in time order.
        n_resamples: B.
        seed: seed of the draws.
        block_size: 1 = windows drawn one by one within their fold; > 1 = circular blocks of
            that many consecutive rows of the fold.

    Returns:
        (B, n) int64; row b holds, for each fold, as many draws from that fold as it has rows.
    """
    if block_size < 1:
        raise MoolaError(f"bootstrap block_size must be >= 1, got {block_size}")
    fold = np.asarray(fold)
    rng = np.random.default_rng(seed)
    resamples = np.empty((n_resamples, fold.size), dtype=np.int64)
    for value in np.unique(fold):
        rows = np.flatnonzero(fold == value)
        size = rows.size
        if block_size == 1 or size <= 1:
            picks = rng.integers(0, size, size=(n_resamples, size))  # (B, size)
        else:
            block = min(block_size, size)
            n_blocks = -(-size // block)
            block_starts = rng.integers(0, size, size=(n_resamples, n_blocks, 1))  # (B, blocks, 1)
            picks = ((block_starts + np.arange(block)) % size).reshape(n_resamples, -1)[:, :size]
        resamples[:, rows] = rows[picks]
    return resamples


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval."""

    value: float
    ci_low: float
    ci_high: float
    confidence: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


def bootstrap_intervals(
    oof: OutOfFold,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    ece_bins: int = 10,
    block_size: int = 1,
    names: Sequence[str] = METRICS,
) -> dict[str, Interval]:
    """95% (by default) fold-stratified bootstrap intervals of every metric of `METRICS`.

    Args:
        oof: the out-of-fold predictions.
        n_resamples: bootstrap resamples B.
        confidence: coverage of the percentile interval.
        seed: seed of the resamples (same seed, same intervals).
        ece_bins: ECE bins.
        block_size: see `stratified_resamples`.
        names: the metrics wanted (default: all five).

    Returns:
        {metric: Interval}.
    """
    _check_resampling(oof.n, n_resamples, confidence)
    names = tuple(names)
    point = metric_values(oof.y_true, oof.proba, ece_bins, names)
    resamples = stratified_resamples(oof.fold, n_resamples, seed, block_size)
    draws = _resampled_values(oof.y_true, oof.proba, resamples, ece_bins, names)  # (B, metrics)
    low, high = _percentiles(draws, confidence)
    return {m: Interval(point[m], float(low[j]), float(high[j]), confidence) for j, m in enumerate(names)}


def _check_resampling(n: int, n_resamples: int, confidence: float) -> None:
    if n == 0:
        raise MoolaError("no out-of-fold windows to evaluate: every test part is empty; check the split")
    if n_resamples < 1 or not 0 < confidence < 1:
        raise MoolaError(f"bootstrap needs resamples >= 1 and 0 < confidence < 1, got {n_resamples}, {confidence}")


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    return np.percentile(draws, tail, axis=0), np.percentile(draws, 100.0 - tail, axis=0)


# ----- paired comparisons -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Model minus baseline on one metric, paired on the same windows.

    Attributes:
        metric: a name of `METRICS`.
        difference: metric(model) - metric(baseline).
        ci_low, ci_high: paired bootstrap interval of the difference.
        p_value: one-sided p for "the model is better" (higher, or lower for Brier and ECE), or
            two-sided when `alternative` says so.
        test: the test's name (MCNEMAR or PERMUTATION).
        alternative: "better" or "two-sided".
        n: windows compared.
        model_only, other_only: for accuracy, the windows only the model (only the other) gets
            right, which the detectable effect needs; None for the other metrics.
    """

    metric: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    alternative: str
    n: int
    model_only: int | None = None
    other_only: int | None = None

    def to_dict(self) -> dict[str, float]:
        return {"difference": self.difference, "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value}


def mcnemar_exact(
    correct_model: np.ndarray, correct_baseline: np.ndarray, alternative: Literal["better", "two-sided"] = "better"
) -> float:
    """Exact McNemar p-value from per-window correctness (see the module docstring).

    Args:
        correct_model, correct_baseline: (n,) bool, the arg-max is the label.
        alternative: "better" (one-sided: the model is more accurate) or "two-sided".

    Returns:
        The p-value; 1.0 when no window separates the two.
    """
    from scipy.stats import binomtest

    model_only, baseline_only = discordant_counts(correct_model, correct_baseline)
    discordant = model_only + baseline_only
    if discordant == 0:
        return 1.0
    side = "greater" if alternative == "better" else "two-sided"
    return float(binomtest(model_only, discordant, 0.5, alternative=side).pvalue)


def discordant_counts(correct_model: np.ndarray, correct_other: np.ndarray) -> tuple[int, int]:
    """(windows only the model gets right, windows only the other gets right)."""
    correct_model, correct_other = np.asarray(correct_model, dtype=bool), np.asarray(correct_other, dtype=bool)
    return int(np.sum(correct_model & ~correct_other)), int(np.sum(~correct_model & correct_other))


def paired_comparison(
    oof: OutOfFold,
    baseline_proba: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    ece_bins: int = 10,
    alternative: Literal["better", "two-sided"] = "better",
    block_size: int = 1,
    names: Sequence[str] = METRICS,
) -> dict[str, Comparison]:
    """Compare the model of `oof` with a baseline's probabilities on the same windows.

    Args:
        oof: the model's out-of-fold predictions.
        baseline_proba: (n, K) the baseline's probabilities for the same rows.
        n_resamples: bootstrap resamples and permutations, each.
        confidence: coverage of the difference's interval.
        seed: seed of resamples and permutations.
        ece_bins: ECE bins.
        alternative: "better" (one-sided, the default for a model against a baseline) or
            "two-sided" (two runs, neither of which is the reference).
        block_size: see `stratified_resamples`.
        names: the metrics compared (default: all of `METRICS`).

    Returns:
        {metric: Comparison} for each of `names`.
    """
    _check_resampling(oof.n, n_resamples, confidence)
    names = tuple(names)
    baseline = oof.with_proba(baseline_proba)
    observed_model = metric_values(oof.y_true, oof.proba, ece_bins, names)
    observed_baseline = metric_values(oof.y_true, baseline.proba, ece_bins, names)
    observed = np.array([observed_model[m] - observed_baseline[m] for m in names])
    differences = _paired_draws(
        oof, baseline.proba, stratified_resamples(oof.fold, n_resamples, seed, block_size), ece_bins, names
    )
    low, high = _percentiles(differences, confidence)
    # Accuracy has its exact test; the permutation test covers the others.
    permuted = tuple(m for m in names if m != "accuracy")
    rng = np.random.default_rng([seed, 1])
    swaps = rng.random((n_resamples if permuted else 0, oof.n)) < 0.5  # (B, n)
    swapped = _swapped_draws(oof, baseline.proba, swaps, ece_bins, permuted)
    sign = np.array([1.0 if HIGHER_IS_BETTER[m] else -1.0 for m in permuted])
    observed = dict(zip(names, observed, strict=False))
    observed_permuted = np.array([observed[m] for m in permuted])
    # Improvements (positive = model better); a tiny tolerance keeps exact ties counted as ties.
    observed_gain, swapped_gain = observed_permuted * sign, swapped * sign
    tolerance = 1e-12
    if alternative == "better":
        extreme = swapped_gain >= observed_gain - tolerance
    else:
        extreme = np.abs(swapped_gain) >= np.abs(observed_gain) - tolerance
    p_values = dict(zip(permuted, (1.0 + extreme.sum(axis=0)) / (1.0 + n_resamples), strict=False))
    right_model, right_baseline = oof.predicted == oof.y_true, baseline.predicted == oof.y_true
    if "accuracy" in names:
        p_values["accuracy"] = mcnemar_exact(right_model, right_baseline, alternative)
    counts = discordant_counts(right_model, right_baseline)
    result = {}
    for j, m in enumerate(names):
        p = float(p_values[m])
        result[m] = Comparison(
            metric=m,
            difference=float(observed[m]),
            ci_low=float(low[j]),
            ci_high=float(high[j]),
            p_value=p,
            test=MCNEMAR if m == "accuracy" else PERMUTATION,
            alternative=alternative,
            n=oof.n,
            **(dict(zip(("model_only", "other_only"), counts, strict=False)) if m == "accuracy" else {}),
        )
    return result


# Every metric but PR-AUC is a function of sums over windows of per-window statistics, so a
# resample's value comes from indexing those statistics instead of a loop over resamples.
_FROM_SUMS = ("accuracy", "f1_macro", "brier", "ece")


def _window_statistics(
    y_true: np.ndarray, proba: np.ndarray, name: str, ece_bins: int
) -> tuple[np.ndarray, Callable[[np.ndarray, int], np.ndarray]]:
    """Per-window statistics S (n, m) of metric `name` and f with metric = f(sums of S over the windows, n).

    accuracy: S = [right]; f = S / n.  brier: S = [squared distance to the one-hot label]; f = S / n.
    f1_macro: S = [right and predicted k, predicted k, label k for every k]; f = mean over k of
    2 TP / (predicted + actual), 0 where both are 0. ece: S = [(right - top probability) in bin b
    for every bin]; f = sum over bins of |S_b| / n (the count-weighted |accuracy - confidence|).
    """
    predicted = metrics.predicted_classes(proba)
    right = (predicted == y_true).astype(np.float64)
    k = proba.shape[1]
    if name == "accuracy":
        return right[:, None], lambda sums, n: sums[..., 0] / n
    if name == "brier":
        one_hot = np.eye(k)[y_true]  # (n,) -> (n, K)
        return np.sum((proba - one_hot) ** 2, axis=1)[:, None], lambda sums, n: sums[..., 0] / n
    if name == "f1_macro":
        predicted_k = np.eye(k)[predicted]  # (n, K)
        actual_k = np.eye(k)[y_true]  # (n, K)
        stats = np.concatenate([predicted_k * actual_k, predicted_k, actual_k], axis=1)  # (n, 3K)

        def f1_macro(sums: np.ndarray, n: int) -> np.ndarray:
            true_positive, denominator = sums[..., :k], sums[..., k : 2 * k] + sums[..., 2 * k :]
            f1 = np.divide(2.0 * true_positive, denominator, out=np.zeros_like(denominator), where=denominator > 0)
            return f1.mean(axis=-1)

        return stats, f1_macro
    confidence = proba.max(axis=1)
    bin_index = np.clip(
        np.ceil(confidence * ece_bins).astype(np.int64) - 1, 0, ece_bins - 1
    )  # as metrics.reliability_bins
    stats = np.eye(ece_bins)[bin_index] * (right - confidence)[:, None]  # (n, bins)
    return stats, lambda sums, n: np.abs(sums).sum(axis=-1) / n


def _resampled_values(
    y_true: np.ndarray, proba: np.ndarray, resamples: np.ndarray, ece_bins: int, names: Sequence[str]
) -> np.ndarray:
    """(B, metrics) each metric of `names` on each resample (rows of `resamples`)."""
    out = np.empty((len(resamples), len(names)))
    n = resamples.shape[1]
    looped = [j for j, m in enumerate(names) if m not in _FROM_SUMS]
    for j, m in enumerate(names):
        if m in _FROM_SUMS:
            stats, from_sums = _window_statistics(y_true, proba, m, ece_bins)
            out[:, j] = from_sums(stats[resamples].sum(axis=1), n)  # (B, n, m) -> (B, m) -> (B,)
    if looped:
        wanted = [names[j] for j in looped]
        for b, rows in enumerate(resamples):
            values = metric_values(y_true[rows], proba[rows], ece_bins, wanted)
            out[b, looped] = [values[m] for m in wanted]
    return out


def _paired_draws(
    oof: OutOfFold, baseline_proba: np.ndarray, resamples: np.ndarray, ece_bins: int, names: Sequence[str]
) -> np.ndarray:
    """(B, metrics) model-minus-baseline differences over paired bootstrap resamples."""
    model = _resampled_values(oof.y_true, oof.proba, resamples, ece_bins, names)
    return model - _resampled_values(oof.y_true, baseline_proba, resamples, ece_bins, names)


def _swapped_draws(
    oof: OutOfFold, baseline_proba: np.ndarray, swaps: np.ndarray, ece_bins: int, names: Sequence[str]
) -> np.ndarray:
    """(B, metrics) differences after swapping the two predictions of the windows where swaps[b] is True."""
    out = np.empty((len(swaps), len(names)))
    n = oof.n
    looped = [j for j, m in enumerate(names) if m not in _FROM_SUMS]
    flips = swaps[:, :, None]  # (B, n, 1)
    for j, m in enumerate(names):
        if m in _FROM_SUMS:
            model, from_sums = _window_statistics(oof.y_true, oof.proba, m, ece_bins)
            base, _ = _window_statistics(oof.y_true, baseline_proba, m, ece_bins)
            swapped_model = np.where(flips, base, model).sum(axis=1)  # (B, n, m) -> (B, m)
            swapped_base = np.where(flips, model, base).sum(axis=1)
            out[:, j] = from_sums(swapped_model, n) - from_sums(swapped_base, n)
    if looped:
        wanted = [names[j] for j in looped]
        for b, swap in enumerate(swaps):
            flip = swap[:, None]  # (n, 1)
            model = metric_values(oof.y_true, np.where(flip, baseline_proba, oof.proba), ece_bins, wanted)
            base = metric_values(oof.y_true, np.where(flip, oof.proba, baseline_proba), ece_bins, wanted)
            out[b, looped] = [model[m] - base[m] for m in wanted]
    return out


def compare_runs(
    oof_a: OutOfFold,
    oof_b: OutOfFold,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    ece_bins: int = 10,
) -> tuple[int, dict[str, Comparison]]:
    """Run A minus run B on their common out-of-fold windows (matched by window id), two-sided.

    Args:
        oof_a, oof_b: the two runs' out-of-fold predictions (same class names).
        n_resamples, confidence, seed, ece_bins: as in `paired_comparison`; the bootstrap is
            stratified by run A's folds.

    Returns:
        (number of common windows, {metric: Comparison}); a label that differs between the two
        runs on a common window, or no common window at all, is a MoolaError.
    """
    if oof_a.class_names != oof_b.class_names:
        raise MoolaError(
            f"the two runs name different classes ({', '.join(oof_a.class_names)} vs "
            f"{', '.join(oof_b.class_names)}): compare runs on the same labeled set"
        )
    common, rows_a, rows_b = np.intersect1d(oof_a.window_id, oof_b.window_id, return_indices=True)
    if common.size == 0:
        raise MoolaError("the two runs have no out-of-fold window in common: compare runs on the same labeled set")
    order = np.lexsort((rows_a, oof_a.fold[rows_a]))  # A's folds, A's row order inside each
    rows_a, rows_b = rows_a[order], rows_b[order]
    a, b = oof_a.rows(rows_a), oof_b.rows(rows_b)
    differ = np.flatnonzero(a.y_true != b.y_true)
    if differ.size:
        raise MoolaError(
            f"window {a.window_id[differ[0]]} has label {a.y_true[differ[0]]} in run A but {b.y_true[differ[0]]} "
            "in run B: the runs used different labels; compare runs on the same labeled version"
        )
    return int(common.size), paired_comparison(
        a, b.proba, n_resamples, confidence, seed, ece_bins, alternative="two-sided"
    )


# ----- class collapse and the verdict -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Collapse:
    """How concentrated a model's predictions are.

    Attributes:
        recall: {class: recall}, None for a class with no window in the table.
        top_class: the most-predicted class.
        top_share: share of windows predicted as top_class.
        threshold: share at or above which the model counts as collapsed.
        collapsed_to: top_class when top_share >= threshold, else None.
    """

    recall: dict[str, float | None]
    top_class: str
    top_share: float
    threshold: float
    collapsed_to: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "recall": self.recall,
            "top_class": self.top_class,
            "top_share": self.top_share,
            "collapsed": int(self.collapsed_to is not None),
        }


def class_collapse(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str], threshold: float = 0.9
) -> Collapse:
    """Per-class recall and the share of the most-predicted class (see the module docstring).

    Args:
        y_true: (n,) int labels.
        proba: (n, K) probabilities (arg-max predictions are counted).
        class_names: K names.
        threshold: collapse share, params key evaluate.collapse_threshold (0.9), in (0, 1].

    Returns:
        The Collapse.
    """
    if not 0 < threshold <= 1:
        raise MoolaError(f"params key evaluate.collapse_threshold must be in (0, 1], got {threshold}")
    labels, probs = metrics._check_inputs(np.asarray(y_true), proba)
    if labels.size == 0:
        raise MoolaError("no windows to check for class collapse: the test part is empty; check the split")
    predicted = metrics.predicted_classes(probs)
    recall = {}
    for k, name in enumerate(class_names):
        actual = labels == k
        recall[name] = float(np.mean(predicted[actual] == k)) if actual.any() else None
    counts = np.bincount(predicted, minlength=len(class_names))
    top = int(counts.argmax())
    share = float(counts[top] / labels.size)
    return Collapse(recall, class_names[top], share, threshold, class_names[top] if share >= threshold else None)


@dataclasses.dataclass(frozen=True)
class NoSkill:
    """The within-fold permutation test of the model's accuracy (see the module docstring).

    Attributes:
        accuracy: the model's observed out-of-fold accuracy.
        permuted_accuracy: mean accuracy over the within-fold permutations (what no skill scores).
        p_value: (1 + #{permuted accuracy >= observed}) / (1 + n_resamples).
        n_resamples: permutations drawn.
    """

    accuracy: float
    permuted_accuracy: float
    p_value: float
    n_resamples: int

    def beats(self, alpha: float) -> bool:
        return self.p_value < alpha

    def text(self, alpha: float) -> str:
        """ "above no skill (within-fold permutation p = 0.003)" or "no evidence of skill (...)"."""
        said = "above no skill" if self.beats(alpha) else "no evidence of skill"
        return f"{said} (within-fold permutation p = {self.p_value:.3g})"

    def to_dict(self, alpha: float) -> dict[str, float]:
        return {
            "p_value": self.p_value,
            "beats": int(self.beats(alpha)),
            "accuracy": self.accuracy,
            "permuted_accuracy": self.permuted_accuracy,
        }


def no_skill_test(oof: OutOfFold, n_resamples: int = 1000, seed: int = 0) -> NoSkill:
    """Is the model's accuracy above what label-independent predictions score? (module docstring)

    Args:
        oof: the model's out-of-fold predictions.
        n_resamples: permutations, params key evaluate.n_resamples.
        seed: seed of the permutations, params key base.seed.

    Returns:
        The NoSkill; the labels of each fold are permuted among that fold's windows only.
    """
    _check_resampling(oof.n, n_resamples, 0.95)
    predicted = oof.predicted
    observed_hits = int(np.sum(predicted == oof.y_true))
    rng = np.random.default_rng([seed, 2])
    hits = np.zeros(n_resamples, dtype=np.int64)
    for value in np.unique(oof.fold):
        rows = np.flatnonzero(oof.fold == value)
        permuted = rng.permuted(np.tile(oof.y_true[rows], (n_resamples, 1)), axis=1)  # (B, rows)
        hits += np.sum(permuted == predicted[rows], axis=1)
    p = (1.0 + np.sum(hits >= observed_hits)) / (1.0 + n_resamples)
    return NoSkill(observed_hits / oof.n, float(hits.mean() / oof.n), float(p), int(n_resamples))


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The one sentence a run may say about a baseline, and whether it is a "beats"."""

    beats: bool
    p_value: float
    text: str
    collapsed_to: str | None


def verdict(
    comparison: Comparison, collapse: Collapse, baseline: str, alpha: float = 0.05, *, no_skill: NoSkill
) -> Verdict:
    """The honest verdict against one baseline: the one place of the rule (module docstring).

    Args:
        comparison: the model-vs-baseline Comparison of the verdict's metric (accuracy by default
            in `significance_pack`), one-sided ("better").
        collapse: the model's Collapse.
        baseline: "majority", "logistic" or a free label ("random-forest baseline").
        alpha: params key evaluate.alpha (0.05), in (0, 1).
        no_skill: the model's within-fold permutation test (`no_skill_test`).

    Returns:
        The Verdict: "beats the <baseline> (p = ...)" only when p < alpha, the no-skill p < alpha
        and not collapsed (an intersection-union test: level alpha).
    """
    if not 0 < alpha < 1:
        raise MoolaError(f"params key evaluate.alpha must be in (0, 1), got {alpha}")
    if comparison.alternative != "better":
        raise MoolaError("a verdict needs the one-sided comparison (alternative='better')")
    label = BASELINE_LABELS.get(baseline, baseline)
    p = comparison.p_value
    if collapse.collapsed_to is not None:
        text = (
            f"collapsed to {collapse.collapsed_to} ({collapse.top_share:.0%} of windows predicted "
            f"{collapse.collapsed_to})"
        )
        return Verdict(False, p, text, collapse.collapsed_to)
    if p >= alpha:
        return Verdict(False, p, f"not distinguishable from the {label} (p = {p:.3g})", None)
    if not no_skill.beats(alpha):
        return Verdict(False, p, f"not shown to beat the {label} (p = {p:.3g}): {no_skill.text(alpha)}", None)
    return Verdict(True, p, f"beats the {label} (p = {p:.3g})", None)


def detectable(comparison: Comparison, alpha: float, power_wanted: float = 0.8, target_gain: float = 0.10) -> dict:
    """`power.detectability` of an accuracy Comparison: the gain its windows would show, and the windows 10 points need.

    A two-sided comparison (two runs) rejects for "A is better" when the one-sided p is below
    alpha / 2, so its detectable effect is taken at alpha / 2.

    Returns:
        The plain-number dict of `power.detectability`.
    """
    if comparison.model_only is None or comparison.other_only is None:
        raise MoolaError(f"the detectable effect is defined for the accuracy comparison, not {comparison.metric}")
    level = alpha if comparison.alternative == "better" else alpha / 2
    return power.detectability(
        comparison.n, comparison.model_only, comparison.other_only, level, power_wanted, target_gain
    )


def detectable_fields(found: dict) -> dict[str, float]:
    """The numeric fields a `vs_<baseline>` block carries: `detectable_effect`, `windows_for_10_points`, ..."""
    points = f"{100 * found['target_gain']:.3g}".replace(".", "_")
    return {
        "detectable_effect": found["detectable_effect"],
        f"windows_for_{points}_points": found["windows_for_target"],
        "windows_capped": found["windows_capped"],
        "detected_within_grid": found["detected_within_grid"],
        "discordant_share": found["discordant_share"],
    }


# ----- baselines --------------------------------------------------------------------------


def majority_baseline_proba(train_labels: np.ndarray, n_rows: int, n_classes: int) -> np.ndarray:
    """The majority-class baseline: train class frequencies on every row, (n_rows, K) float64."""
    return metrics.majority_baseline_proba(train_labels, n_rows, n_classes)


def logistic_baseline_proba(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    features: np.ndarray,
    n_classes: int,
    C: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Logistic regression on standardised features, fitted on one fold's train rows.

    Args:
        train_features: (n_train, F) the fold's train rows (the 20 engineered features).
        train_labels: (n_train,) their labels.
        features: (n, F) the rows to score.
        n_classes: K; a class absent from train gets probability 0.
        C: inverse L2 strength.
        seed: random_state of the solver (lbfgs is deterministic; kept for other solvers).

    Returns:
        (n, K) float64 probabilities.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(train_labels, dtype=np.int64)
    if labels.size == 0:
        raise MoolaError("the train part is empty: no logistic baseline to fit; check the split")
    present = np.unique(labels)
    proba = np.zeros((len(features), n_classes))
    if present.size == 1:
        proba[:, present[0]] = 1.0  # one class in train: the only honest forecast
        return proba
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
    model.fit(np.asarray(train_features, dtype=np.float64), labels)
    proba[:, model.classes_] = model.predict_proba(np.asarray(features, dtype=np.float64))
    return proba


BaselineFit = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]
BASELINES: dict[str, BaselineFit] = {
    "majority": lambda train_x, train_y, x, k: majority_baseline_proba(train_y, len(x), k),
    "logistic": logistic_baseline_proba,
}


def out_of_fold(
    folds: Sequence[Any],
    predict: BaselineFit,
    features: np.ndarray,
    labels: np.ndarray,
    window_ids: Sequence[str],
    class_names: Sequence[str],
    starts: np.ndarray | None = None,
) -> OutOfFold:
    """Fit `predict` on each fold's train rows and score its test rows: the out-of-fold table.

    Args:
        folds: objects with `.index`, `.train`, `.test` row arrays (`moola.data.folds.Fold`);
            a window tested by two folds is refused (use one path of a CPCV plan).
        predict: (train_x, train_y, x, K) -> (n, K) probabilities, e.g. a `BASELINES` entry.
        features: (N, ...) inputs of every labeled row.
        labels: (N,) int labels.
        window_ids: (N,) ids.
        class_names: K names.
        starts: (N,) window start times; given, each fold's rows are put in time order (which
            the block bootstrap needs), else they stay in row order.

    Returns:
        The OutOfFold, rows by fold, then by start time (or row index).
    """
    labels = np.asarray(labels, dtype=np.int64)
    ids = np.asarray(window_ids).astype(str)
    parts = []
    for fold in folds:
        test = np.asarray(fold.test, dtype=np.int64)
        if test.size == 0:
            continue
        if starts is not None:
            test = test[np.argsort(np.asarray(starts)[test], kind="stable")]
        train = np.asarray(fold.train, dtype=np.int64)
        proba = predict(features[train], labels[train], features[test], len(class_names))
        parts.append((np.full(test.size, fold.index), test, proba))
    if not parts:
        raise MoolaError("no fold has a test part: nothing to predict out of fold; check the split")
    rows = np.concatenate([p[1] for p in parts])
    return OutOfFold(
        ids[rows],
        np.concatenate([p[0] for p in parts]),
        labels[rows],
        np.concatenate([p[2] for p in parts]),
        class_names,
    )


# ----- the whole pack ---------------------------------------------------------------------


def significance_pack(
    oof: OutOfFold,
    baselines: dict[str, np.ndarray],
    alpha: float = 0.05,
    collapse_threshold: float = 0.9,
    n_resamples: int = 1000,
    seed: int = 0,
    ece_bins: int = 10,
    verdict_metric: str = "accuracy",
) -> dict[str, Any]:
    """Intervals, baseline comparisons, no skill, collapse and verdicts as nested JSON for metrics/eval.json.

    Args:
        oof: the model's out-of-fold predictions.
        baselines: {"majority": (n, K) proba, "logistic": (n, K) proba} on the same rows.
        alpha: significance level of the verdicts.
        collapse_threshold: share of one predicted class that counts as collapse.
        n_resamples, seed, ece_bins: as in `bootstrap_intervals` (and the no-skill permutations).
        verdict_metric: the metric whose one-sided p decides the verdicts.

    Returns:
        {"n", "metrics": {m: {value, ci_low, ci_high}}, "vs_<baseline>": {m: {difference,
        ci_low, ci_high, p_value}, and the `detectable_fields` of its accuracy comparison},
        "no_skill": {p_value, beats, accuracy, permuted_accuracy}, "collapse": {...}, "beats":
        {baseline: 0 | 1}, "verdict": {baseline: sentence}, "skill": sentence, "tests": {name:
        test}}; numbers are plain floats, so `dvc metrics diff` shows every bound.
    """
    if verdict_metric not in METRICS:
        raise MoolaError(f"params key evaluate.verdict_metric {verdict_metric!r}: choose one of {', '.join(METRICS)}")
    collapse = class_collapse(oof.y_true, oof.proba, oof.class_names, collapse_threshold)
    skill = no_skill_test(oof, n_resamples, seed)
    pack: dict[str, Any] = {
        "n": oof.n,
        "metrics": {m: i.to_dict() for m, i in bootstrap_intervals(oof, n_resamples, 0.95, seed, ece_bins).items()},
        "no_skill": skill.to_dict(alpha),
        "collapse": collapse.to_dict(),
        "beats": {},
        "verdict": {},
        "skill": skill.text(alpha),
        "tests": {
            **{m: MCNEMAR if m == "accuracy" else PERMUTATION for m in METRICS},
            "no_skill": NO_SKILL,
            "detectable_effect": power.METHOD,
        },
    }
    # The majority baseline first: a model that beats a weaker baseline but not the majority
    # class has shown nothing, and its other verdicts say so.
    for name in sorted(baselines, key=lambda name: name != "majority"):
        comparisons = paired_comparison(oof, baselines[name], n_resamples, 0.95, seed, ece_bins)
        found = detectable(comparisons["accuracy"], alpha)
        pack[f"vs_{name}"] = {**{m: c.to_dict() for m, c in comparisons.items()}, **detectable_fields(found)}
        said = verdict(comparisons[verdict_metric], collapse, name, alpha, no_skill=skill)
        pack["beats"][name] = int(said.beats)
        text = said.text
        if name != "majority" and said.beats and pack["beats"].get("majority") == 0:
            text += ", but not the majority baseline"
        pack["verdict"][name] = f"{text}; {power.detectability_text(found)}"
    return pack
