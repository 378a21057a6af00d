"""Benchmark: do the torch models learn a weak planted signal? Out-of-fold accuracy and top-class share per model.

The control: `planted_signal.py` plants a shape of adjustable strength into about a hundred real
windows (classes none / rally / flush, half of them "none"). Purged, embargoed walk-forward folds
(`moola.data.folds.walk_forward`, with a val part per fold) are cut once; for every seed the
signal is planted afresh and every model is fitted on each fold's train rows, early-stopped on
its val rows, and scored on its test rows (out of fold), exactly as `moola train` fits a fold:

- the models are built by `moola.training.setup.build_model` from this repository's params.yaml
  (their sections, the `encoder:` section, `train:` for lr, batch, epochs, patience, weight decay);
- with `train.augment` on (as by default), the fold's train rows are joined by synthetic rows
  grown from them alone by `moola.data.synth.generate_synthetic` with the `synth_cache:` settings
  (never val or test rows), as the synth_cache stage grows them per fold;
- inputs are the OHLC prices and the 20 engineered features; `moola.training.scaler.fit_scaler`
  (fitted on the fold's train rows) gives the models the standardised volatility-scaled view;
- torch models train through `moola.training.loop.train_torch_model` (the stage's loop);
- EnhancedSimpleLSTM and AdapterLSTM load a BiLSTM encoder that TS2Vec pretrained here, once per
  benchmark run, on unplanted real windows (`pretrain_ts2vec:` settings), by the same loader
  the stage uses (`report_state_dict_load`).

Printed per model: out-of-fold accuracy (mean and sd over seeds), its gap to MiniRocket's, the
share of the most-predicted class (mean and worst seed), the runs that collapsed (one class for
at least `evaluate.collapse_threshold` of the test windows), and the majority baseline's accuracy.

    PYTHONPATH=src python benchmarks/bench_weak_signal.py                 # strength 4, 3 seeds
    PYTHONPATH=src python benchmarks/bench_weak_signal.py --strength 2 --seeds 5
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import planted_signal  # noqa: E402

MODELS = ("simple_lstm", "enhanced_simple_lstm", "adapter_lstm", "minirocket")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--strength", type=float, default=2.0, help="planted strength (see planted_signal.py)")
    parser.add_argument("--seeds", type=int, default=5, help="plantings (and model seeds) 0 .. n-1")
    planted_signal.add_control_arguments(parser, folds=3, val_fraction=0.2)
    parser.add_argument("--pretrain-windows", type=int, default=2000, help="unplanted real windows TS2Vec pretrains on")
    parser.add_argument(
        "--encoder-cache", type=Path, help="keep the pretrained encoder in this file and reuse it (same settings)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE", help="override params.yaml values (YAML scalars)"
    )
    return parser.parse_args()


def load_params(overrides: list[str]) -> dict:
    """params.yaml with `section.key=value` overrides, as `dvc exp run -S` would write them."""
    import yaml

    from moola.params import load_params as read

    params = read()
    for item in overrides:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        params.setdefault(section, {})[name] = yaml.safe_load(value)
    return params


def pretrain_encoder(params: dict, seed: int, n_windows: int, window: int) -> dict:
    """A BiLSTM encoder pretrained by TS2Vec on unplanted real windows: its state dict."""
    from moola.models.base import resolve_encoder_config
    from moola.params import load_section
    from moola.pretrain.config import PretrainParams
    from moola.pretrain.run import build_ts2vec
    from moola.pretrain.windows import WindowBatches, fit_channel_scaler

    settings = load_section(PretrainParams, "pretrain_ts2vec", params)
    ohlc = planted_signal.real_windows(n_windows, window).ohlc  # positive prices; the scaler volatility-scales them
    rows = np.arange(len(ohlc))
    scaler = fit_channel_scaler(ohlc, rows, min_std=1e-6, per_window=True)  # as the stage fits it
    encoder_config = resolve_encoder_config(params.get("encoder"))
    model = build_ts2vec(settings, seed, encoder_config, "cpu")
    batches = WindowBatches(ohlc, scaler)
    for _ in range(settings.epochs):
        model.train_epoch(batches, rows=rows, max_windows=settings.max_windows)
    return model.encoder_state_dict()


def with_synthetic(params: dict, seed: int, train: tuple) -> tuple[tuple, np.ndarray]:
    """The train part plus `synth_cache:` rows grown from it, when `train.augment` is on: (arrays, is_synthetic)."""
    from moola.data import synth
    from moola.data.features import FEATURE_NAMES, compute_features
    from moola.params import from_mapping

    x, f, y = train
    real = np.zeros(len(y), dtype=bool)
    if not (params.get("train") or {}).get("augment", True):
        return train, real
    settings = from_mapping(synth.SynthCacheParams, params.get("synth_cache"), "synth_cache").augmentation(seed)
    grown = synth.generate_synthetic(
        x / x[:, :1, 3:4], f, y, np.arange(len(y)), settings, FEATURE_NAMES, compute_features
    )
    arrays = (
        np.concatenate([x / x[:, :1, 3:4], grown.ohlc]),
        np.concatenate([f, grown.feats]),
        np.concatenate([y, grown.y]),
    )
    return arrays, np.concatenate([real, np.ones(len(grown.y), dtype=bool)])


def fit_fold(
    name: str, params: dict, seed: int, encoder_state: dict | None, parts: dict, n_classes: int, synth_seed: int
) -> np.ndarray:
    """Train one model on a fold's train rows (val for early stopping) -> test probabilities (n_test, K)."""
    from moola.lineage.load_report import report_state_dict_load
    from moola.params import load_section
    from moola.training.config import TrainParams
    from moola.training.loop import fit_estimator, is_torch_model, predict_proba, seed_everything, train_torch_model
    from moola.training.scaler import fit_scaler
    from moola.training.setup import build_model

    seed_everything(seed)
    model, spec, sections = build_model(name, params, seed, n_classes)
    if encoder_state is not None and spec.pretrain_use != "none" and sections[name].get("use_pretrained", True):
        report_state_dict_load(model, encoder_state, source="benchmark TS2Vec encoder")
    parts = dict(parts)
    parts["train"], is_synthetic = with_synthetic(params, synth_seed, parts["train"])
    train_x, train_f, _ = parts["train"]
    scaler = fit_scaler(train_x, train_f, is_synthetic)
    arrays = {part: (*scaler.transform(x, f), y.astype(np.int64)) for part, (x, f, y) in parts.items()}
    settings = load_section(TrainParams, "train", params)
    config = settings.trainer_config(seed=seed, device="cpu", ece_bins=10)
    if is_torch_model(model):
        tensors = {part: tuple(torch.as_tensor(a) for a in arrays[part]) for part in ("train", "val")}
        train_torch_model(model, tensors["train"], tensors["val"], config, config.epochs, log=lambda line: None)
    else:
        fit_estimator(model, arrays["train"], arrays["val"], log=lambda line: None)
    return predict_proba(model, arrays["test"][0], arrays["test"][1])


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(args.set)
    collapse_at = float((params.get("evaluate") or {}).get("collapse_threshold", 0.9))
    started = time.perf_counter()
    real = planted_signal.real_windows(args.n_windows, args.window)
    plan = planted_signal.fold_plan(real, args)
    counts = [f.counts() for f in plan.folds]
    print(
        f"{real.ohlc.shape[0]} real windows of {args.window} bars; strength {args.strength:g}, shape "
        f"{args.shape_bars} bars; "
        f"walk-forward {args.folds} folds: "
        + "; ".join(f"train {c['train']} val {c['val']} test {c['test']}" for c in counts)
        + (f"; overrides {' '.join(args.set)}" if args.set else "")
    )
    encoder_state = None
    if {"enhanced_simple_lstm", "adapter_lstm"} & set(args.models):
        began = time.perf_counter()
        if args.encoder_cache is not None and args.encoder_cache.is_file():
            encoder_state = torch.load(args.encoder_cache, weights_only=True)
        else:
            encoder_state = pretrain_encoder(params, 0, args.pretrain_windows, args.window)
            if args.encoder_cache is not None:
                torch.save(encoder_state, args.encoder_cache)
        print(
            f"TS2Vec BiLSTM encoder pretrained on {args.pretrain_windows} unplanted windows in "
            f"{time.perf_counter() - began:.0f} s"
        )
    rows = []
    classes = planted_signal.CLASS_NAMES
    for seed in range(args.seeds):
        data = planted_signal.plant(real, args.strength, seed, args.shape_bars)
        x = data.ohlc  # positive prices: the scaler takes the volatility-scaled view, as in `moola train`
        test_rows = np.concatenate([f.test for f in plan.folds])
        y_test = data.y[test_rows]
        majority = np.concatenate(
            [np.full(len(f.test), np.bincount(data.y[f.train], minlength=len(classes)).argmax()) for f in plan.folds]
        )
        for name in args.models:
            began = time.perf_counter()
            predicted = []
            for number, fold in enumerate(plan.folds):
                parts = {
                    part: (x[idx], data.feats[idx], data.y[idx])
                    for part, idx in (("train", fold.train), ("val", fold.val), ("test", fold.test))
                }
                proba = fit_fold(
                    name, params, seed, encoder_state, parts, len(classes), synth_seed=1000 * seed + number
                )
                predicted.append(proba.argmax(axis=1))
            predicted = np.concatenate(predicted)
            shares = np.bincount(predicted, minlength=len(classes)) / len(predicted)
            rows.append(
                {
                    "seed": seed,
                    "model": name,
                    "accuracy": float(np.mean(predicted == y_test)),
                    "top_share": float(shares.max()),
                    "collapsed": bool(shares.max() >= collapse_at),
                    "majority": float(np.mean(majority == y_test)),
                    "seconds": time.perf_counter() - began,
                }
            )
            print(
                f"  seed {seed} {name:<22} accuracy {rows[-1]['accuracy']:.3f}  top class {shares.max():.0%}  "
                f"{rows[-1]['seconds']:.0f} s",
                flush=True,
            )
    table = pd.DataFrame(rows)
    n_test = len(y_test)
    control = table[table["model"] == "minirocket"]["accuracy"].mean() if "minirocket" in args.models else np.nan
    print(
        f"\nstrength {args.strength:g}, {args.seeds} seeds x {n_test} out-of-fold test windows; "
        f"majority baseline {table['majority'].mean():.3f}; one window = {1 / n_test:.3f}"
    )
    print(
        f"{'model':<22}{'OOF accuracy mean (sd)':<24}{'- MiniRocket':>13}  "
        f"{'top class mean [worst]':<24}{'collapsed':>10}{'s/run':>8}"
    )
    for name, group in table.groupby("model", sort=False):
        gap = group["accuracy"].mean() - control
        print(
            f"{name:<22}{group['accuracy'].mean():.3f} "
            f"({group['accuracy'].std(ddof=1) if len(group) > 1 else 0:.3f}){'':<10}"
            f"{gap:>+13.3f}  {group['top_share'].mean():.0%} [{group['top_share'].max():.0%}]{'':<14}"
            f"{int(group['collapsed'].sum())}/{len(group):<8}{group['seconds'].mean():>6.0f}"
        )
    print(f"total {time.perf_counter() - started:.0f} s; torch {torch.__version__}, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
