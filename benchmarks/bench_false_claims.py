"""False-claim rate and power of the "beats the majority baseline" verdict on planted signals.

For every condition (shuffled labels; planted strengths, 0 = no signal) and model, over several
seeds: plant the signal into the real bars (`planted_signal.py`, about a hundred labeled
windows), cut purged, embargoed walk-forward folds (`moola.data.folds.walk_forward`), fit the
model on each fold's train rows and predict its test rows (out of fold), then ask
`moola.evaluation.significance` for the verdict against the majority baseline (exact one-sided
McNemar on per-window correctness and the within-fold no-skill permutation test both below
alpha 0.05, class-collapse rule at 90%) and, for MiniRocket,
against the logistic baseline. Prints, per condition and model, the share of runs that got a
"beats" verdict with its exact (Clopper-Pearson) 95% interval, and the out-of-fold accuracy.

Baseline of the claim: on no signal (strength 0, shuffled labels) the share must be at most about
alpha = 5%; with a clear signal each model able to learn it should get the verdict in most runs.

Models: `logistic` (the 20 engineered features, standardised, scikit-learn), `minirocket`
(`ModelRegistry.create("minirocket", ...)` on the volatility-scaled OHLC view every model sees),
and, on request, `simple_lstm` (the registry's torch model through `moola.training.loop`, fixed
epochs; slow on CPU, so not in the default sweep).

    PYTHONPATH=src python benchmarks/bench_false_claims.py                # about 5 min on one core
    PYTHONPATH=src python benchmarks/bench_false_claims.py --seeds 40 --null-seeds 200
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import planted_signal  # noqa: E402
from moola.data.normalise import volatility_scaled  # noqa: E402
from moola.evaluation import significance  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", default=["logistic", "minirocket"], choices=["logistic", "minirocket", "simple_lstm"]
    )
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.0, 1.0, 2.0, 4.0, 8.0])
    parser.add_argument("--shuffled-strength", type=float, default=4.0, help="strength planted before shuffling")
    parser.add_argument("--seeds", type=int, default=20, help="logistic: runs per condition with a planted signal")
    parser.add_argument(
        "--null-seeds", type=int, default=100, help="logistic: runs per no-signal condition (strength 0, shuffled)"
    )
    parser.add_argument(
        "--deep-seeds", type=int, default=10, help="MiniRocket, LSTM: runs per planted-signal condition"
    )
    parser.add_argument(
        "--deep-null-seeds", type=int, default=20, help="MiniRocket, LSTM: runs per no-signal condition"
    )
    parser.add_argument(
        "--lstm-epochs", type=int, default=15, help="simple_lstm: fixed epochs per fold (no early stopping)"
    )
    planted_signal.add_control_arguments(parser, folds=4, val_fraction=0.1)
    parser.add_argument("--minirocket-features", type=int, default=2016)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--resamples", type=int, default=200, help="bootstrap resamples of the accuracy interval")
    return parser.parse_args()


def model_fit(name: str, seed: int, args: argparse.Namespace):
    """(train_x, train_y, x, K) -> probabilities, for `significance.out_of_fold`."""
    if name == "simple_lstm":
        return lstm_fit(seed, args.lstm_epochs)
    if name == "logistic":
        return lambda train_x, train_y, x, k: significance.logistic_baseline_proba(train_x, train_y, x, k, seed=seed)

    def minirocket(train_x, train_y, x, k):
        from moola.models.registry import ModelRegistry

        model = ModelRegistry.create("minirocket", {"num_features": args.minirocket_features}, n_classes=k, seed=seed)
        model.fit(train_x, train_y)
        return model.predict_proba(x)

    return minirocket


def lstm_fit(seed: int, epochs: int):
    """simple_lstm through moola's training loop, a fixed number of epochs on the fold's train rows.

    `out_of_fold` hands the fit only train and test rows, so there is no val part to stop on:
    the loop's val is the train part and patience equals the epochs (it never stops early).
    """

    def fit(train_x, train_y, x, k):
        import torch

        from moola.models.registry import ModelRegistry
        from moola.training.config import TrainConfig
        from moola.training.loop import predict_proba, train_torch_model

        torch.set_num_threads(1)
        model = ModelRegistry.create("simple_lstm", None, n_classes=k, seed=seed)
        config = TrainConfig(seed=seed, epochs=epochs, batch_size=16, lr=2e-3, patience=epochs)
        train = (torch.as_tensor(train_x), torch.zeros(len(train_x), 20), torch.as_tensor(train_y))
        train_torch_model(model, train, train, config, epochs, log=lambda line: None)
        return predict_proba(model, x, np.zeros((len(x), 20), dtype=np.float32))

    return fit


def one_run(real, plan, condition, model_name, seed, args) -> dict:
    """Plant, fit out of fold, and return the verdicts of one (condition, model, seed)."""
    label, strength, shuffled = condition
    data = planted_signal.plant(real, strength, seed, args.shape_bars, shuffle_labels=shuffled)
    inputs = data.feats if model_name == "logistic" else volatility_scaled(data.ohlc)
    classes = planted_signal.CLASS_NAMES
    oof = significance.out_of_fold(
        plan.folds, model_fit(model_name, seed, args), inputs, data.y, data.window_ids, classes
    )
    majority = significance.out_of_fold(
        plan.folds, significance.BASELINES["majority"], data.feats, data.y, data.window_ids, classes
    )
    collapse = significance.class_collapse(oof.y_true, oof.proba, classes)
    versus = significance.paired_comparison(oof, majority.proba, args.resamples, seed=seed, names=("accuracy",))[
        "accuracy"
    ]
    skill = significance.no_skill_test(oof, args.resamples, seed=seed)
    said = significance.verdict(versus, collapse, "majority", args.alpha, no_skill=skill)
    row = {
        "condition": label,
        "model": model_name,
        "seed": seed,
        "n_oof": oof.n,
        "accuracy": versus.difference + float(np.mean(majority.predicted == majority.y_true)),
        "majority_accuracy": float(np.mean(majority.predicted == majority.y_true)),
        "p_majority": versus.p_value,
        "beats_majority": said.beats,
        "collapsed": collapse.collapsed_to is not None,
    }
    if model_name != "logistic":
        logistic = significance.out_of_fold(
            plan.folds, model_fit("logistic", seed, args), data.feats, data.y, data.window_ids, classes
        )
        against = significance.paired_comparison(oof, logistic.proba, args.resamples, seed=seed, names=("accuracy",))
        row["beats_logistic"] = significance.verdict(
            against["accuracy"], collapse, "logistic", args.alpha, no_skill=skill
        ).beats
    return row


def exact_interval(successes: int, runs: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    interval = binomtest(successes, runs).proportion_ci(confidence_level=0.95, method="exact")
    return float(interval.low), float(interval.high)


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    real = planted_signal.real_windows(args.n_windows, args.window)
    plan = planted_signal.fold_plan(real, args)
    counts = [f.counts() for f in plan.folds]
    print(
        f"{real.ohlc.shape[0]} real windows of {args.window} bars from data/raw; walk-forward, {args.folds} folds "
        f"(expanding, train {args.train_fraction}, val {args.val_fraction}, embargo {args.embargo}): "
        + "; ".join(f"fold {i}: train {c['train']} test {c['test']} purged {c['purged']}" for i, c in enumerate(counts))
    )
    conditions = [("shuffled", args.shuffled_strength, True)] + [(f"strength {s:g}", s, False) for s in args.strengths]
    rows = []
    for model_name in args.models:
        model_started = time.perf_counter()
        for condition in conditions:
            no_signal = condition[2] or condition[1] == 0
            if model_name == "logistic":
                runs = args.null_seeds if no_signal else args.seeds
            else:
                runs = args.deep_null_seeds if no_signal else args.deep_seeds
            rows.extend(one_run(real, plan, condition, model_name, seed, args) for seed in range(runs))
        print(f"{model_name}: {time.perf_counter() - model_started:.0f} s")
    table = pd.DataFrame(rows)
    print(f"\nverdict 'beats the majority baseline' (exact one-sided McNemar, alpha {args.alpha}, collapse at 90%)")
    header = (
        f"{'condition':<14}{'model':<12}{'runs':>5}  "
        f"{'beats share [95% CI]':<24}{'OOF accuracy mean (sd)':<24}{'majority acc':<14}{'collapsed':>9}"
    )
    if "beats_logistic" in table:
        header += "  beats logistic [95% CI]"
    print(header)
    for (label, model_name), group in table.groupby(["condition", "model"], sort=False):
        beats = int(group["beats_majority"].sum())
        low, high = exact_interval(beats, len(group))
        line = (
            f"{label:<14}{model_name:<12}{len(group):>5}  {beats / len(group):>5.0%} [{low:.0%}, {high:.0%}]{'':<10}"
            f"{group['accuracy'].mean():.3f} ({group['accuracy'].std(ddof=1):.3f}){'':<9}"
            f"{group['majority_accuracy'].mean():.3f}{'':<9}{group['collapsed'].mean():>6.0%}"
        )
        if "beats_logistic" in group and group["beats_logistic"].notna().all():
            wins = int(group["beats_logistic"].sum())
            lo, hi = exact_interval(wins, len(group))
            line += f"     {wins / len(group):.0%} [{lo:.0%}, {hi:.0%}]"
        print(line)
    print("\nfalse-claim rate on no signal (strength 0 and shuffled labels pooled):")
    null = table[(table["condition"] == "shuffled") | (table["condition"] == "strength 0")]
    for model_name, group in null.groupby("model", sort=False):
        claims = int(group["beats_majority"].sum())
        low, high = exact_interval(claims, len(group))
        verdict = "ok" if low <= args.alpha else "TOO HIGH"
        print(
            f"  {model_name:<12}{claims}/{len(group)} = {claims / len(group):.1%} [95% CI {low:.1%}, {high:.1%}]  "
            f"{verdict} (target <= {args.alpha:.0%})"
        )
        if "beats_logistic" in group and group["beats_logistic"].notna().all():
            wins = int(group["beats_logistic"].sum())
            lo, hi = exact_interval(wins, len(group))
            print(
                f"  {model_name:<12}'beats the logistic baseline' on no signal: {wins}/{len(group)} = "
                f"{wins / len(group):.1%} "
                f"[95% CI {lo:.1%}, {hi:.1%}] (the logistic baseline itself scores below the majority class here)"
            )
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; every condition's runs use seeds 0, 1, ... (labels, shape "
        "places, model)"
    )


if __name__ == "__main__":
    main()
