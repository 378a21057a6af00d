"""The evaluation of a run over every fold: out-of-fold predictions, intervals, tests, verdicts.

Pure functions of arrays and tables: the `evaluate` stage gathers each fold's predictions and
calls `out_of_fold_report`; `moola audit` calls the same function on the stored table, so the
verdict it checks is computed by the one rule that made it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from moola.evaluation import metrics, significance


def numeric_metrics(pack: dict[str, Any], class_names: list[str]) -> dict[str, Any]:
    """metrics/eval.json from a significance pack: plain numbers only, so `dvc metrics diff` shows all.

    Every metric of the out-of-fold test windows carries `<metric>_ci_low` / `<metric>_ci_high`;
    every comparison its difference, interval and one-sided p-value, and its accuracy comparison
    the detectable effect (`vs_<baseline>.detectable_effect`, `.windows_for_10_points`); the no-skill
    test is `no_skill.p_value` with its 0/1 `no_skill.beats`; the verdicts are 0/1 flags.
    """
    test = {"n": pack["n"]}
    for name, interval in pack["metrics"].items():
        test[name] = interval["value"]
        test[f"{name}_ci_low"] = interval["ci_low"]
        test[f"{name}_ci_high"] = interval["ci_high"]
    collapse = pack["collapse"]
    result = {
        "accuracy": test["accuracy"],
        "test": test,
        "collapse": {
            "top_share": collapse["top_share"],
            "collapsed": collapse["collapsed"],
            "recall": {name: value for name, value in collapse["recall"].items() if value is not None},
        },
        "no_skill": dict(pack["no_skill"]),
        "beats": dict(pack["beats"]),
    }
    for key, block in pack.items():
        if key.startswith("vs_"):
            result[key] = block
    return result


def out_of_fold_report(
    oof: significance.OutOfFold,
    baselines: dict[str, np.ndarray],
    *,
    alpha: float,
    collapse_threshold: float,
    n_resamples: int,
    seed: int,
    ece_bins: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics/eval.json block, the significance pack with its sentences) of out-of-fold predictions."""
    pack = significance.significance_pack(
        oof,
        baselines,
        alpha=alpha,
        collapse_threshold=collapse_threshold,
        n_resamples=n_resamples,
        seed=seed,
        ece_bins=ece_bins,
    )
    numbers = numeric_metrics(pack, list(oof.class_names))
    numbers["baseline"] = {
        name: {"accuracy": metrics.accuracy(oof.y_true, proba), "brier": metrics.brier_score(oof.y_true, proba)}
        for name, proba in baselines.items()
    }
    return numbers, pack


def verdict_lines(pack: dict[str, Any]) -> dict[str, str]:
    """The lines the status report prints: the no-skill line, one verdict per baseline, the collapse state."""
    lines = {"skill": pack["skill"]}
    lines.update({f"vs {name} baseline": text for name, text in pack["verdict"].items()})
    collapse = pack["collapse"]
    lines["most-predicted class"] = f"{collapse['top_class']} on {collapse['top_share']:.0%} of test windows" + (
        " (collapsed)" if collapse["collapsed"] else ""
    )
    return lines


def interval_text(interval: dict[str, float]) -> str:
    """`0.421 [0.310, 0.530]`."""
    return f"{interval['value']:.3f} [{interval['ci_low']:.3f}, {interval['ci_high']:.3f}]"


# metrics/headline.json: {key: (path into metrics/eval.json)}; each value is read, never recomputed.
HEADLINE = {
    "acc": ("test", "accuracy"),
    "acc_lo": ("test", "accuracy_ci_low"),
    "acc_hi": ("test", "accuracy_ci_high"),
    "p_maj": ("vs_majority", "accuracy", "p_value"),
    "beat_maj": ("beats", "majority"),
    "p_log": ("vs_logistic", "accuracy", "p_value"),
    "beat_log": ("beats", "logistic"),
    "p_skill": ("no_skill", "p_value"),
    "top": ("collapse", "top_share"),
    "detect": ("vs_majority", "detectable_effect"),
}
HEADLINE_ABLATIONS = {"pretraining": "pre", "augmentation": "syn"}  # ablation -> key prefix: <p>_gain, <p>_p


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """metrics/headline.json: about ten flat numbers picked from the metrics/eval.json dict, for `dvc exp show`.

    Keys (docs/METRICS.md): accuracy and its 95% interval, the one-sided p and 0/1 verdict against
    each baseline, the no-skill p, the most-predicted class's share, the detectable effect against
    the majority baseline, and `pre_gain`/`pre_p`, `syn_gain`/`syn_p` for each ablation that was
    fitted (no key when it was not requested or does not apply).
    """
    result = {}
    for key, path in HEADLINE.items():
        value: Any = metrics
        for part in path:
            value = value[part]
        result[key] = value
    for ablation, prefix in HEADLINE_ABLATIONS.items():
        block = (metrics.get("ablation") or {}).get(ablation) or {}
        if block.get("applies"):
            result[f"{prefix}_gain"] = block["difference"]
            result[f"{prefix}_p"] = block["p_value"]
    return result
