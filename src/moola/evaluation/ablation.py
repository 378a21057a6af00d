"""What pretraining and synthetic rows add: the model against its own ablations, paired on the same windows.

An ablation refits the same folds with the same seed and val, with one thing removed (the
TS2Vec encoder, or the synthetic cache's rows). The full model's out-of-fold table and the
ablation's are compared window by window with `significance.paired_comparison` (accuracy
difference, paired fold-stratified bootstrap interval, one-sided exact McNemar p that the full
model is better) and `power.detectability`. `moola evaluate` and `moola audit` both call
`ablation_report`, so the audit checks the very rule that made the numbers. Method and wording:
docs/METRICS.md, "Ablations".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from moola.errors import MoolaError
from moola.evaluation import power, significance

LABELS = {"pretraining": "pretraining", "augmentation": "synthetic rows"}
TARGET_GAIN = 0.10  # the gain whose window count is reported (windows_for_10_points)


def require_same_windows(full: significance.OutOfFold, ablated: significance.OutOfFold, ablation: str) -> None:
    """Refuse an ablation table that is not the full table's windows, folds and labels, in the same order."""
    where = f"the {ablation} ablation's out-of-fold table"
    if full.class_names != ablated.class_names:
        raise MoolaError(
            f"{where} names classes {list(ablated.class_names)}, the model {list(full.class_names)}: rerun `moola "
            "train`"
        )
    if full.n != ablated.n or not np.array_equal(full.window_id, ablated.window_id):
        raise MoolaError(
            f"{where} holds other windows than the model's ({ablated.n} vs {full.n}): rerun `moola train` and `moola "
            "evaluate`"
        )
    if not np.array_equal(full.fold, ablated.fold) or not np.array_equal(full.y_true, ablated.y_true):
        raise MoolaError(
            f"{where} gives its windows other folds or labels than the model's: rerun `moola train` and `moola "
            "evaluate`"
        )


def ablation_effect(
    full: significance.OutOfFold,
    ablated: significance.OutOfFold,
    ablation: str,
    *,
    alpha: float,
    n_resamples: int,
    seed: int,
    ece_bins: int,
) -> tuple[dict[str, float], str]:
    """(plain numbers, sentence) of what `ablation` adds: full minus ablated accuracy on the same windows.

    Returns:
        ({"applies": 1, "n", "difference", "ci_low", "ci_high", "p_value", "adds" (0 | 1),
        "detectable_effect", "windows_for_10_points"}, "pretraining adds +0.044 [...] (p = ...); ...").
    """
    require_same_windows(full, ablated, ablation)
    comparison = significance.paired_comparison(
        full, ablated.proba, n_resamples, 0.95, seed, ece_bins, alternative="better", names=("accuracy",)
    )["accuracy"]
    full_right, ablated_right = full.predicted == full.y_true, ablated.predicted == ablated.y_true
    detect = power.detectability(
        full.n,
        int(np.sum(full_right & ~ablated_right)),
        int(np.sum(~full_right & ablated_right)),
        alpha,
        target_gain=TARGET_GAIN,
    )
    adds = comparison.p_value < alpha
    numbers = {
        "applies": 1,
        "n": full.n,
        **comparison.to_dict(),
        "adds": int(adds),
        "detectable_effect": detect["detectable_effect"],
        "windows_for_10_points": detect["windows_for_target"],
    }
    shown = (
        f"{comparison.difference:+.3f} [{comparison.ci_low:+.3f}, {comparison.ci_high:+.3f}] (p = "
        f"{comparison.p_value:.3g})"
    )
    label = LABELS[ablation]
    if adds:
        sentence = f"{label} adds {shown}; {power.detectability_text(detect)}"
    else:
        sentence = f"{label}: {shown}, not distinguishable from none; {power.detectability_text(detect)}"
    return numbers, sentence


def ablation_report(
    full: significance.OutOfFold,
    tables: dict[str, Any],
    reasons: dict[str, str | None],
    *,
    alpha: float,
    n_resamples: int,
    seed: int,
    ece_bins: int,
) -> tuple[dict[str, dict], dict[str, str]]:
    """The ablation block of metrics/eval.json and its sentences, for every requested ablation.

    Args:
        full: the model's out-of-fold table.
        tables: {ablation: its out-of-fold table} for each ablation that applies.
        reasons: {ablation: None (applies) or why it does not}, in the order requested.
        alpha, n_resamples, seed, ece_bins: the evaluate params.

    Returns:
        ({ablation: numbers, or {"applies": 0} when it does not apply}, {ablation: sentence}).
    """
    numbers, sentences = {}, {}
    for ablation, reason in reasons.items():
        if reason is not None:
            numbers[ablation] = {"applies": 0}
            sentences[ablation] = f"{LABELS[ablation]}: not applicable ({reason})"
            continue
        if ablation not in tables:
            raise MoolaError(f"no out-of-fold table of the {ablation} ablation: rerun `moola evaluate`")
        numbers[ablation], sentences[ablation] = ablation_effect(
            full, tables[ablation], ablation, alpha=alpha, n_resamples=n_resamples, seed=seed, ece_bins=ece_bins
        )
    return numbers, sentences


def requested_reasons(recorded: dict[str, dict], requested: list[str], run_id: str) -> dict[str, str | None]:
    """{ablation: None (fitted) or why it does not apply} for each requested ablation, from the training record.

    Args:
        recorded: the record's ablations block (`moola.artifacts.checkpoint.ablations`).
        requested: evaluate.ablations.
        run_id: the run's id, for the message.
    """
    reasons = {}
    for ablation in requested:
        entry = recorded.get(ablation)
        if entry is None:
            raise MoolaError(
                f"run {run_id} was trained without the {ablation} ablation that evaluate.ablations asks for: "
                "rerun `moola train` (it reads evaluate.ablations too) or `dvc repro`"
            )
        reasons[ablation] = None if entry.get("applies") else str(entry.get("reason"))
    return reasons
