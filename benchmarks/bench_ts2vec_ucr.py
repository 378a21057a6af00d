"""Benchmark: TS2Vec accuracy on UCR/UEA datasets under the paper's classification protocol.

Protocol (Yue et al., AAAI 2022, and its official code): the paper's dilated CNN (ten hidden
residual blocks of width 64 and one to 320 outputs), batch 8, AdamW lr 0.001, the default step
budget (200 steps, 600 when the training set holds more than 100,000 values), pretrained on the
training split without labels; the weight-averaged encoder encodes whole series, max-pooled
over time; an RBF SVC with C picked by 5-fold grid search (`fit_svm_protocol`) is fitted on
the training representations and scored on the test split. Data preparation follows the
official loaders: a univariate (UCR) set is standardised with the training split's global mean
and deviation, except the sets the official loader leaves as they are (here
PickupGestureWiimoteZ); a multivariate (UEA) set is standardised per channel on the training
split. Shorter series are NaN-padded at the end; for pretraining only, padded series are
centred, as the official trainer does; NaN timestamps are encoded as masked ones.

The datasets are read from the .ts files that the aeon wheel ships (`pip download aeon
--no-deps -d DIR`; aeon itself is not imported). Every dataset runs with each seed; the table
prints moola's accuracy (mean, sample standard deviation and range over seeds), the same runs
encoded with the raw (not averaged) weights, and:
- with `--official DIR` (a checkout of the official code, never part of this repository): the
  official trainer on the same data and seeds, fed to the same SVM protocol, and the
  difference with Welch's t-test;
- with `--paper FILE` (CSV lines `dataset,accuracy` copied from the paper's UCR/UEA tables):
  the published figure and the difference. No figures are built in: only figures checked
  against the paper belong in that file.

Usage: python benchmarks/bench_ts2vec_ucr.py --archive aeon-X-py3-none-any.whl
           [--datasets GunPoint ...] [--seeds 0 1 2] [--threads 1] [--device cpu]
           [--official DIR] [--paper FILE]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from moola.pretrain.ts2vec import PAPER_DILATED_BLOCKS, TS2Vec, fit_svm_protocol

# Small sets the aeon wheel ships that are in the paper's UCR (6) and UEA (2) tables.
DATASETS = (
    "ArrowHead",
    "GunPoint",
    "ItalyPowerDemand",
    "OSULeaf",
    "ACSF1",
    "PickupGestureWiimoteZ",
    "BasicMotions",
    "JapaneseVowels",
)
# Univariate sets that the official UCR loader does not standardise (of the ones above).
LEFT_UNSCALED = {"PickupGestureWiimoteZ"}
BATCH = 8
LR = 0.001


@dataclass
class Dataset:
    name: str
    train: np.ndarray  # (N, T, C) float64, NaN after a shorter series' end
    train_labels: np.ndarray  # (N,) int
    test: np.ndarray  # (M, T, C)
    test_labels: np.ndarray  # (M,) int


def parse_ts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A .ts file's text -> series (N, T, C) NaN-padded at the end, labels (N,) as strings."""
    rows, labels, in_data = [], [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *dims, label = line.split(":")
        rows.append([[np.nan if v == "?" else float(v) for v in dim.split(",")] for dim in dims])
        labels.append(label.strip())
    length = max(len(dim) for row in rows for dim in row)
    series = np.full((len(rows), length, len(rows[0])), np.nan)
    for i, row in enumerate(rows):
        for c, dim in enumerate(row):
            series[i, : len(dim), c] = dim
    return series, np.array(labels)


def read_member(archive: Path, name: str, split: str) -> str:
    """Text of <name>_<split>.ts from the aeon wheel (a zip) or from a folder holding the files."""
    target = f"{name}/{name}_{split}.ts"
    if archive.is_dir():
        matches = sorted(archive.rglob(f"{name}_{split}.ts"))
        if not matches:
            raise SystemExit(f"{target} not found under {archive}")
        return matches[0].read_text()
    with zipfile.ZipFile(archive) as wheel:
        members = [m for m in wheel.namelist() if m.endswith("/" + target)]
        if not members:
            raise SystemExit(f"{target} not found in {archive}")
        return wheel.read(members[0]).decode()


def load(archive: Path, name: str) -> Dataset:
    """One dataset, prepared as the official loaders prepare it."""
    train, train_names = parse_ts(read_member(archive, name, "TRAIN"))
    test, test_names = parse_ts(read_member(archive, name, "TEST"))
    length = max(train.shape[1], test.shape[1])
    train, test = (np.pad(x, ((0, 0), (0, length - x.shape[1]), (0, 0)), constant_values=np.nan) for x in (train, test))
    if train.shape[2] > 1:  # UEA: per channel
        mean, std = np.nanmean(train, axis=(0, 1)), np.nanstd(train, axis=(0, 1))
        train, test = (train - mean) / std, (test - mean) / std
    elif name not in LEFT_UNSCALED:  # UCR: one mean and deviation for the whole training split
        mean, std = np.nanmean(train), np.nanstd(train)
        train, test = (train - mean) / std, (test - mean) / std
    classes = {label: i for i, label in enumerate(np.unique(train_names))}
    return Dataset(
        name,
        train,
        np.array([classes[v] for v in train_names]),
        test,
        np.array([classes[v] for v in test_names]),
    )


def centre_padded(series: np.ndarray) -> np.ndarray:
    """Shift each NaN-padded series so its observed part sits in the middle: (N, T, C) -> (N, T, C)."""
    missing = np.isnan(series).all(axis=2)  # (N, T)
    if not (missing[:, 0].any() or missing[:, -1].any()):
        return series
    length = series.shape[1]
    leading = np.argmin(missing, axis=1)  # first observed timestamp
    trailing = np.argmin(missing[:, ::-1], axis=1)
    shifts = (leading + trailing) // 2 - leading
    return np.stack([np.roll(row, shift % length, axis=0) for row, shift in zip(series, shifts, strict=False)])


def moola_run(data: Dataset, seed: int, device: str) -> tuple[float, float, float, int]:
    """(accuracy averaged weights, accuracy raw weights, seconds of pretraining, steps)."""
    model = TS2Vec(
        input_dims=data.train.shape[2],
        encoder="dilated_cnn",
        hidden=64,
        layers=PAPER_DILATED_BLOCKS,
        output_dims=320,
        batch_size=BATCH,
        lr=LR,
        device=device,
        bf16=False,  # float32 everywhere, as the official code trains
        seed=seed,
    )
    started = time.perf_counter()
    model.fit(centre_padded(data.train).astype(np.float32))
    seconds = time.perf_counter() - started
    scores = []
    for averaged in (True, False):
        train = model.encode(data.train.astype(np.float32), averaged=averaged)
        test = model.encode(data.test.astype(np.float32), averaged=averaged)
        scores.append(fit_svm_protocol(train, data.train_labels).score(test, data.test_labels))
    return scores[0], scores[1], seconds, model.steps_done_


def official_run(official_class: type, data: Dataset, seed: int, device: str) -> tuple[float, float]:
    """(accuracy, seconds of pretraining) of the official trainer, seeded as its train script seeds."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = official_class(
        input_dims=data.train.shape[2], device=device, batch_size=BATCH, lr=LR, output_dims=320, max_train_length=3000
    )
    started = time.perf_counter()
    model.fit(data.train.copy())
    seconds = time.perf_counter() - started
    train = model.encode(data.train.copy(), encoding_window="full_series")
    test = model.encode(data.test.copy(), encoding_window="full_series")
    return fit_svm_protocol(train, data.train_labels).score(test, data.test_labels), seconds


def summary(values: list[float]) -> str:
    """mean ± sample standard deviation [min, max], in accuracy points."""
    points = 100 * np.asarray(values)
    spread = points.std(ddof=1) if len(points) > 1 else 0.0
    return f"{points.mean():5.1f} ± {spread:3.1f} [{points.min():5.1f}, {points.max():5.1f}]"


def welch_p(first: list[float], second: list[float]) -> float:
    from scipy.stats import ttest_ind

    if np.allclose(first, first[0]) and np.allclose(second, second[0]):
        return 1.0 if np.isclose(first[0], second[0]) else 0.0
    return float(ttest_ind(first, second, equal_var=False).pvalue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, required=True, help="the aeon wheel, or a folder with the .ts files")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (float32 on both)")
    parser.add_argument("--official", type=Path, help="a checkout of the official TS2Vec code, run side by side")
    parser.add_argument("--paper", type=Path, help="CSV `dataset,accuracy` (0..1) of the paper's published figures")
    parser.add_argument("--official-only", action="store_true", help="with --official: run only the official code")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    official_class = None
    if args.official:
        sys.path.insert(0, str(args.official))
        from ts2vec import TS2Vec as official_class  # noqa: N813  (the official trainer)
    paper = {}
    if args.paper:
        with args.paper.open() as handle:
            paper = {row[0].strip(): float(row[1]) for row in csv.reader(handle) if row and not row[0].startswith("#")}

    print(
        f"TS2Vec, paper protocol (dilated CNN {PAPER_DILATED_BLOCKS} blocks x 64 -> 320, batch {BATCH}, lr {LR}, "
        f"default budget, RBF SVC grid); seeds {args.seeds}; torch {torch.__version__}, {args.device}, "
        f"{args.threads} CPU thread(s)"
    )
    print("accuracy in points: mean ± sample sd [min, max] over seeds")
    rows = []
    for name in args.datasets:
        data = load(args.archive, name)
        line = f"{name:<22} N={len(data.train):<4} T={data.train.shape[1]:<5} C={data.train.shape[2]:<3}"
        if args.official_only and official_class is not None:
            official = [official_run(official_class, data, seed, args.device) for seed in args.seeds]
            accuracy = [o[0] for o in official]
            line += f" official {summary(accuracy)}  {float(np.mean([o[1] for o in official])):6.1f} s/seed"
            if name in paper:
                line += (
                    f"  paper {100 * paper[name]:5.1f}  official - paper "
                    f"{100 * (np.mean(accuracy) - paper[name]):+5.1f}"
                )
            print(line, flush=True)
            continue
        runs = [moola_run(data, seed, args.device) for seed in args.seeds]
        averaged, raw = [r[0] for r in runs], [r[1] for r in runs]
        seconds = float(np.mean([r[2] for r in runs]))
        line += f" steps {runs[0][3]:<4} moola {summary(averaged)}  raw weights {summary(raw)}  {seconds:6.1f} s/seed"
        if official_class is not None:
            official = [official_run(official_class, data, seed, args.device) for seed in args.seeds]
            accuracy = [o[0] for o in official]
            official_seconds = float(np.mean([o[1] for o in official]))
            line += (
                f"\n{'':<22} official {summary(accuracy)}  moola - official "
                f"{100 * (np.mean(averaged) - np.mean(accuracy)):+5.1f} "
                f"(Welch p={welch_p(averaged, accuracy):.2f})  {official_seconds:6.1f} s/seed, "
                f"moola/official time x{seconds / official_seconds:.2f}"
            )
        if name in paper:
            line += (
                f"\n{'':<22} paper {100 * paper[name]:5.1f}  moola - paper "
                f"{100 * (np.mean(averaged) - paper[name]):+5.1f}"
            )
        print(line, flush=True)
        rows.append((name, np.mean(averaged), paper.get(name)))
    compared = [(n, a, p) for n, a, p in rows if p is not None]
    if compared:
        worst = max(compared, key=lambda row: abs(row[1] - row[2]))
        within = sum(abs(a - p) <= 0.03 for _, a, p in compared)
        print(
            f"within 3 points of the paper: {within}/{len(compared)}; largest gap {worst[0]} "
            f"{100 * (worst[1] - worst[2]):+.1f}"
        )


if __name__ == "__main__":
    main()
