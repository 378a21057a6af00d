"""Power and false claims at about 120 labels: planted shapes, pretraining, synthetic rows, every verdict counted.

The control (`planted_signal.py`): about 120 labeled real windows carry a planted shape per class
(none / rally / flush) at a given strength, and an UNLABELED corpus cut from the same bars at a
finer stride (about 600 windows) carries shapes drawn the same way, with no labels, so that
pretraining has something to learn. The folds are the product's (`moola.data.folds`; purged,
embargoed k-fold by default, every labeled window tested once; `--strategy walk_forward` for
the deployment-like folds); each model is fitted on a fold's train rows only and scores its test
rows (out of fold, `moola.evaluation.significance.out_of_fold`).

Models, each a readout fitted per fold (cheap, so the seeds go there):
- `logistic`: the product's logistic baseline on the 20 engineered features;
- `minirocket`: the registry's MiniRocket (params.yaml `minirocket:`), its transform fitted on
  each fold's train rows (labels play no part in it) and computed once per planted set; the
  readout is the product's logistic at `minirocket.C` on the standardised transform, the
  classifier MiniRocket's own `logistic` choice fits; `minirocket_avg` averages the
  probabilities of `--average-seeds` kernel seeds (a variance-lowering candidate);
- `ts2vec_probe`: TS2Vec (`moola.pretrain`, params.yaml `pretrain_ts2vec:` and `encoder:`)
  pretrained once per unlabeled corpus and frozen, a logistic readout on its max-pooled
  representation (the TS2Vec paper's protocol, a linear one); `ts2vec_random` is the same
  probe on the same architecture at the same seeded initial weights, untrained: "without
  pretraining";
- `logistic_synth`: `logistic` on each fold's train rows plus the synthetic rows that the
  product's generator (`moola.data.synth`, `synth_cache:` settings through
  `SynthCacheParams.augmentation`) grows from those train rows alone.

Verdicts, each counted as a claim when it says "beats" or "above": every model's no-skill test
(within-fold permutation), and every model against the majority baseline and (all but
`logistic`) against the logistic baseline, by the product's own
`moola.evaluation.report.out_of_fold_report`; "pretraining adds" (`ts2vec_probe` against
`ts2vec_random`) and "synthetic adds" (`logistic_synth` against `logistic`) by the product's
paired one-sided McNemar and verdict rule (`significance.paired_comparison`, `no_skill_test`,
`verdict`: the McNemar p and the no-skill p of the model both below alpha, not collapsed).

Power runs: per strength, `--corpora` unlabeled corpora (one encoder each) x `--labelings`
labeled plantings. Null runs: `--null-corpora` planted sets at `--shuffled-strength` (signal in
the bars, so the transform and the encoder have shapes to find), each with `--null-shuffles`
label permutations that reuse its transform and encoder. The pretraining effect is the paired
difference in out-of-fold accuracy, its mean over runs with a t interval. Same arguments, same
output; timings are printed, not stored. Results go to `benchmarks/results/power.json`.

A run is one `--part` (power or null) stored as one `--section`; sections `family:name` of a
family are summarised together, so the tables in docs/METRICS.md were made by seven processes:

    B="python benchmarks/bench_power.py"   # with PYTHONPATH=src, one thread each
    for k in 0 1 2 3; do
        $B --part null --null-corpora 2 --null-shuffles 13 --first-null-corpus $((2 * k)) --section null:$k &
    done
    $B --part power --strengths 2 --corpora 3 --labelings 5 --section power:s2
    $B --part power --strengths 1 --corpora 2 --labelings 5 --section power:s1
    $B --part power --strengths 4 --corpora 2 --labelings 5 --section power:s4
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import planted_signal  # noqa: E402
from moola.evaluation import significance  # noqa: E402

MODELS = ("logistic", "minirocket", "minirocket_avg", "ts2vec_probe", "ts2vec_random", "logistic_synth")
DEFAULT_MODELS = ("logistic", "minirocket", "ts2vec_probe", "ts2vec_random", "logistic_synth")
ABLATIONS = {"pretraining adds": ("ts2vec_probe", "ts2vec_random"), "synthetic adds": ("logistic_synth", "logistic")}
RESULTS = Path(__file__).resolve().parent / "results" / "power.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["power", "null"], default="power")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=MODELS)
    parser.add_argument("--strengths", nargs="+", type=float, default=[1.0, 2.0, 4.0])
    parser.add_argument("--corpora", type=int, default=4, help="power: unlabeled corpora (encoders) per strength")
    parser.add_argument("--labelings", type=int, default=5, help="power: labeled plantings per corpus")
    parser.add_argument("--null-corpora", type=int, default=10, help="null: planted sets (transform, encoder)")
    parser.add_argument(
        "--first-null-corpus", type=int, default=0, help="null: index of the first planted set (split a run)"
    )
    parser.add_argument("--null-shuffles", type=int, default=12, help="null: label permutations per planted set")
    parser.add_argument("--shuffled-strength", type=float, default=2.0, help="null: strength planted before shuffling")
    parser.add_argument("--unlabeled-windows", type=int, default=600, help="windows of the unlabeled corpus")
    parser.add_argument("--pretrain-epochs", type=int, help="TS2Vec epochs (default: pretrain_ts2vec.epochs)")
    parser.add_argument("--average-seeds", type=int, default=3, help="minirocket_avg: kernel seeds averaged")
    parser.add_argument(
        "--resamples", type=int, default=1000, help="no-skill permutations and bootstrap draws (evaluate.n_resamples)"
    )
    parser.add_argument(
        "--minirocket-features",
        type=int,
        default=2016,
        help="MiniRocket transform size (params.yaml has 9996; 2016 keeps the readouts cheap)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON file; a run replaces only its own section")
    parser.add_argument("--section", help="name of this run's section of the JSON (default: the part's name)")
    planted_signal.add_control_arguments(parser, folds=5, val_fraction=0.0, n_windows=120, strategy="purged_kfold")
    return parser.parse_args()


def pretrained_probes(params: dict, corpus: np.ndarray, seed: int, args: argparse.Namespace) -> dict:
    """{"ts2vec_probe": trained TS2Vec, "ts2vec_random": the same at its initial weights} and their scaler
    ({} without probes)."""
    from moola.models.base import resolve_encoder_config
    from moola.params import load_section
    from moola.pretrain.config import PretrainParams
    from moola.pretrain.run import build_ts2vec
    from moola.pretrain.windows import WindowBatches, fit_channel_scaler

    if not {"ts2vec_probe", "ts2vec_random"} & set(args.models):
        return {}
    settings = load_section(PretrainParams, "pretrain_ts2vec", params)
    epochs = settings.epochs if args.pretrain_epochs is None else args.pretrain_epochs
    rows = np.arange(len(corpus))
    scaler = fit_channel_scaler(corpus, rows, min_std=1e-6, per_window=True)  # as the stage fits it
    config = resolve_encoder_config(params.get("encoder"))
    trained, untrained = build_ts2vec(settings, seed, config, "cpu"), build_ts2vec(settings, seed, config, "cpu")
    batches = WindowBatches(corpus, scaler)
    for _ in range(epochs):
        trained.train_epoch(batches, rows=rows, max_windows=settings.max_windows)
    return {"scaler": scaler, "ts2vec_probe": trained, "ts2vec_random": untrained}


def minirocket_transforms(params: dict, x: np.ndarray, y: np.ndarray, plan, seed: int, num_features: int) -> dict:
    """{train rows' bytes: (N, F) transform of every row, fitted on that fold's train rows} for one kernel seed."""
    from moola.models.registry import ModelRegistry

    settings = dict(params.get("minirocket") or {}) | {"num_features": num_features}
    out = {}
    for fold in plan.folds:
        model = ModelRegistry.create("minirocket", settings, n_classes=len(planted_signal.CLASS_NAMES), seed=seed)
        model.fit(x[fold.train], y[fold.train])  # the transform's parameters depend on the train series only
        out[np.asarray(fold.train, dtype=np.int64).tobytes()] = model.transform(x)
    return out


def model_inputs(params: dict, data, plan, probes: dict, args: argparse.Namespace, seed: int) -> dict:
    """What each model's readout reads, computed once per planted set (labels play no part in it)."""
    from moola.data.normalise import volatility_scaled
    from moola.pretrain.windows import WindowBatches

    inputs = {"logistic": data.feats, "logistic_synth": data.feats}
    x = volatility_scaled(data.ohlc).astype(np.float32)
    kernel_seeds = {"minirocket": [seed], "minirocket_avg": [seed + 7919 * k for k in range(args.average_seeds)]}
    for name, seeds in kernel_seeds.items():
        if name in args.models:
            inputs[name] = [minirocket_transforms(params, x, data.y, plan, s, args.minirocket_features) for s in seeds]
    for name in ("ts2vec_probe", "ts2vec_random"):
        if name in args.models:
            inputs[name] = probes[name].encode(WindowBatches(data.ohlc, probes["scaler"]))
    return inputs


def readout(name: str, inputs: dict, data, params: dict, seed: int):
    """(train rows, train labels, rows, K) -> probabilities: the model's readout, for `significance.out_of_fold`."""
    from moola.data import synth
    from moola.data.features import FEATURE_NAMES, compute_features
    from moola.params import from_mapping

    logistic_c = float((params.get("evaluate") or {}).get("logistic_C", 1.0))
    fit = significance.logistic_baseline_proba
    if name in ("minirocket", "minirocket_avg"):
        c = float((params.get("minirocket") or {}).get("C", 1.0))

        def rocket(train, train_y, rows, k):
            maps = [m[np.asarray(train, dtype=np.int64).tobytes()] for m in inputs[name]]
            return np.mean([fit(f[train], train_y, f[rows], k, C=c) for f in maps], axis=0)

        return rocket
    if name == "logistic_synth":
        settings = from_mapping(synth.SynthCacheParams, params.get("synth_cache"), "synth_cache").augmentation(seed)

        def augmented(train, train_y, rows, k):
            x = data.ohlc[train] / data.ohlc[train][:, :1, 3:4]  # the generator's input: divided by the first close
            grown = synth.generate_synthetic(
                x, data.feats[train], train_y, train, settings, FEATURE_NAMES, compute_features
            )
            feats, labels = np.concatenate([data.feats[train], grown.feats]), np.concatenate([train_y, grown.y])
            return fit(feats, labels, data.feats[rows], k, C=logistic_c)

        return augmented
    features = inputs[name]
    return lambda train, train_y, rows, k: fit(
        features[train], train_y, features[rows], k, C=logistic_c if name.startswith("logistic") else 1.0
    )


def run_verdicts(plan, data, inputs: dict, params: dict, args: argparse.Namespace, seed: int) -> dict:
    """Every model's verdicts (no skill, vs majority, vs logistic) and both ablation verdicts of one labeled set:
    one row.

    The verdicts are `significance.verdict`'s, on the comparisons and the no-skill test that
    `report.out_of_fold_report` computes for them (accuracy only: the intervals of the other
    metrics decide no verdict and cost most of the time).
    """
    evaluate = params.get("evaluate") or {}
    alpha, collapse_at = float(evaluate.get("alpha", 0.05)), float(evaluate.get("collapse_threshold", 0.9))
    classes, rows = planted_signal.CLASS_NAMES, np.arange(len(data.y))
    oof = {
        name: significance.out_of_fold(
            plan.folds, readout(name, inputs, data, params, seed), rows, data.y, data.window_ids, classes, data.starts
        )
        for name in args.models
    }
    majority = significance.out_of_fold(
        plan.folds, significance.BASELINES["majority"], rows, data.y, data.window_ids, classes, data.starts
    )
    others = {"majority": (majority, "majority"), "logistic": (oof.get("logistic"), "logistic")}
    others |= {claim: (oof.get(without), f"{without} model") for claim, (_, without) in ABLATIONS.items()}
    row = {"seed": seed, "n_oof": majority.n}
    for name, table in oof.items():
        skill = significance.no_skill_test(table, args.resamples, seed)
        collapse = significance.class_collapse(table.y_true, table.proba, classes, collapse_at)
        row[f"{name}.accuracy"] = skill.accuracy
        row[f"{name}.beats no skill"] = skill.beats(alpha)
        wanted = ["majority"] + (["logistic"] if name != "logistic" else [])
        wanted += [claim for claim, (model, without) in ABLATIONS.items() if model == name and without in oof]
        for key in wanted:
            other, label = others[key]
            comparison = significance.paired_comparison(
                table, other.proba, args.resamples, seed=seed, names=("accuracy",)
            )["accuracy"]
            said = significance.verdict(comparison, collapse, label, alpha, no_skill=skill)
            column = f"{name}.beats {key}" if key in ("majority", "logistic") else key
            row[column] = bool(said.beats)
            if key in ABLATIONS:
                row[f"{key}.difference"], row[f"{key}.p"] = comparison.difference, comparison.p_value
    return row


def power_runs(real, real_unlabeled, plan, params: dict, args: argparse.Namespace):
    """Per strength: corpora x labelings runs; one encoder per corpus, one transform per planted set.

    Yields the rows so far after each corpus (the caller records them, so a cut run keeps its part)."""
    rows = []
    for strength in args.strengths:
        began = time.perf_counter()
        for corpus in range(args.corpora):
            unlabeled = planted_signal.unlabeled_corpus(real_unlabeled, strength, corpus, args.shape_bars)
            probes = pretrained_probes(params, unlabeled, corpus, args)
            for labeling in range(args.labelings):
                seed = corpus * args.labelings + labeling
                data = planted_signal.plant(real, strength, seed, args.shape_bars)
                inputs = model_inputs(params, data, plan, probes, args, seed)
                rows.append(
                    {"strength": strength, "corpus": corpus} | run_verdicts(plan, data, inputs, params, args, seed)
                )
            print(f"strength {strength:g}: {len(rows)} runs so far, {time.perf_counter() - began:.0f} s", flush=True)
            yield rows


def null_runs(real, real_unlabeled, plan, params: dict, args: argparse.Namespace):
    """Shuffled labels: null_corpora planted sets (encoder, transform) x null_shuffles label permutations.

    Yields the rows so far after each planted set."""
    rows = []
    began = time.perf_counter()
    for corpus in range(args.first_null_corpus, args.first_null_corpus + args.null_corpora):
        seed = 1000 + corpus
        unlabeled = planted_signal.unlabeled_corpus(real_unlabeled, args.shuffled_strength, seed, args.shape_bars)
        probes = pretrained_probes(params, unlabeled, seed, args)
        planted = planted_signal.plant(real, args.shuffled_strength, seed, args.shape_bars)
        inputs = model_inputs(params, planted, plan, probes, args, seed)
        for shuffle in range(args.null_shuffles):
            data = planted_signal.relabeled(planted, 100 * seed + shuffle)
            rows.append({"corpus": corpus} | run_verdicts(plan, data, inputs, params, args, 100 * seed + shuffle))
        print(f"null: {len(rows)} runs, {time.perf_counter() - began:.0f} s", flush=True)
        yield rows


def exact_interval(successes: int, runs: int) -> list[float]:
    """Clopper-Pearson 95% interval of a share."""
    from scipy.stats import binomtest

    interval = binomtest(successes, runs).proportion_ci(confidence_level=0.95, method="exact")
    return [float(interval.low), float(interval.high)]


def mean_interval(values: np.ndarray) -> list[float]:
    """[mean, low, high]: the mean with its 95% t interval over runs."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    half = (
        stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
    )
    return [float(values.mean()), float(values.mean() - half), float(values.mean() + half)]


def share(flags: pd.Series) -> dict:
    """{"claims", "runs", "share", "ci"} of a boolean column."""
    claims, runs = int(flags.sum()), int(flags.size)
    return {"claims": claims, "runs": runs, "share": claims / runs, "ci": exact_interval(claims, runs)}


def claim_columns(table: pd.DataFrame) -> list[str]:
    """Every verdict column of a results table (no skill, model beats baseline, pretraining adds, synthetic adds)."""
    return [c for c in table.columns if ".beats " in c or c in ABLATIONS]


def summarise_power(table: pd.DataFrame, models: list[str]) -> dict:
    """Per strength: per model power (beats majority, beats logistic) and accuracy; the ablation effects."""
    out = []
    for strength, group in table.groupby("strength", sort=True):
        block = {"strength": float(strength), "runs": len(group), "models": {}, "ablations": {}}
        for name in models:
            acc = group[f"{name}.accuracy"]
            entry = {
                "power_vs_majority": share(group[f"{name}.beats majority"]),
                "accuracy": mean_interval(acc),
                "accuracy_sd": float(acc.std(ddof=1)),
            }
            if f"{name}.beats logistic" in group:
                entry["beats_logistic"] = share(group[f"{name}.beats logistic"])
            block["models"][name] = entry
        for claim in ABLATIONS:
            if claim in group:
                block["ablations"][claim] = {
                    "verdict": share(group[claim]),
                    "effect": mean_interval(group[f"{claim}.difference"]),
                }
        out.append(block)
    return {"runs": out}


def summarise_null(table: pd.DataFrame) -> dict:
    """Per verdict: share of null runs that claimed it, and the share of runs with any claim."""
    columns = claim_columns(table)
    verdicts = {c: share(table[c]) for c in columns}
    return {"runs": len(table), "verdicts": verdicts, "any verdict": share(table[columns].any(axis=1))}


def pct(entry: dict) -> str:
    return f"{entry['share']:>4.0%} [{entry['ci'][0]:.0%}, {entry['ci'][1]:.0%}]"


def print_power(summary: dict, n_oof: int) -> None:
    print(
        f"\npower: share of runs whose verdict is 'beats the majority baseline' [Clopper-Pearson 95%], {n_oof} "
        "out-of-fold windows"
    )
    print(
        f"{'strength':>8}  {'model':<15}{'runs':>5}  "
        f"{'power':<17}{'beats logistic':<17}{'OOF accuracy mean [95%] (sd)'}"
    )
    for block in summary["runs"]:
        for name, e in block["models"].items():
            logistic = pct(e["beats_logistic"]) if "beats_logistic" in e else "-"
            acc = e["accuracy"]
            print(
                f"{block['strength']:>8g}  {name:<15}{block['runs']:>5}  "
                f"{pct(e['power_vs_majority']):<17}{logistic:<17}{acc[0]:.3f} [{acc[1]:.3f}, {acc[2]:.3f}] "
                f"({e['accuracy_sd']:.3f})"
            )
        for claim, e in block["ablations"].items():
            eff = e["effect"]
            print(
                f"{block['strength']:>8g}  {claim:<20}verdict {pct(e['verdict'])}; accuracy gain {eff[0]:+.3f} [95% "
                f"{eff[1]:+.3f}, {eff[2]:+.3f}]"
            )


def print_null(summary: dict, alpha: float) -> None:
    print(
        f"\nfalse claims on shuffled labels ({summary['runs']} runs): share of runs with the verdict "
        "[Clopper-Pearson 95%]"
    )
    for name, e in list(summary["verdicts"].items()) + [("any verdict of the run", summary["any verdict"])]:
        flag = "ok" if e["share"] <= alpha else "ABOVE alpha"
        print(f"  {name:<36}{e['claims']:>4}/{e['runs']:<4} {pct(e)}  {flag}")


def record(path: Path, section: str, part: str, rows: list[dict], settings: dict) -> dict:
    """Store one run's rows under `runs/<section>` and re-summarise every family of sections.

    A section `family:name` joins its family's summary (`power:s2` and `power:s14` make "power"),
    so one table can be run as several processes; the other sections of the file are kept. An
    exclusive lock on `<path>.lock` keeps processes that finish together from losing a section.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _record(path, section, part, rows, settings)


def _record(path: Path, section: str, part: str, rows: list[dict], settings: dict) -> dict:
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.setdefault("runs", {})[section] = {"settings": settings | {"part": part}, "rows": rows}
    summaries = {}
    for name, block in sorted(current["runs"].items()):
        summaries.setdefault(name.split(":")[0], []).append(block)
    current["summary"] = {}
    for family, blocks in summaries.items():
        table = pd.DataFrame([row for block in blocks for row in block["rows"]])
        if blocks[0]["settings"]["part"] == "power":
            current["summary"][family] = summarise_power(table, blocks[0]["settings"]["models"])
        else:
            current["summary"][family] = summarise_null(table)
    path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    return current["summary"]


def main() -> None:
    import torch

    from moola.params import load_params

    args = parse_args()
    torch.set_num_threads(1)
    params = load_params()
    started = time.perf_counter()
    real = planted_signal.real_windows(args.n_windows, args.window)
    real_unlabeled = planted_signal.real_windows(args.unlabeled_windows, args.window)
    plan = planted_signal.fold_plan(real, args)
    counts = [f.counts() for f in plan.folds]
    tested = sum(c["test"] for c in counts)
    print(
        f"{len(real.starts)} labeled windows, {len(real_unlabeled.starts)} unlabeled windows of {args.window} bars; "
        f"{args.strategy}, {args.folds} folds, embargo {args.embargo}: {tested} windows tested out of fold; "
        + "; ".join(f"train {c['train']} test {c['test']} purged {c['purged']}" for c in counts)
    )
    settings = {k: v for k, v in vars(args).items() if k not in ("output", "section", "part")}
    settings["labeled_windows"], settings["unlabeled_corpus_windows"], settings["tested_out_of_fold"] = (
        len(real.starts),
        len(real_unlabeled.starts),
        tested,
    )
    alpha = float((params.get("evaluate") or {}).get("alpha", 0.05))
    runs = power_runs if args.part == "power" else null_runs
    for rows in runs(real, real_unlabeled, plan, params, args):
        summaries = record(args.output, args.section or args.part, args.part, rows, settings)
    for family, summary in summaries.items():
        print(f"\n== {family}")
        print_power(summary, tested) if "runs" in summary and isinstance(summary["runs"], list) else print_null(
            summary, alpha
        )
    print(f"\ntotal {time.perf_counter() - started:.0f} s, one thread; written {args.output.name}")


if __name__ == "__main__":
    main()
