"""Planted-signal control: real OHLC return paths with known shapes of adjustable strength, labeled by shape.

Windows are cut from the real bars in `data/raw/*.parquet` (every file, the symbols' real
timestamps, so windows of different symbols overlap in time exactly as the pipeline's do), about
`n_windows` of them at an even stride per symbol. Each window gets a class drawn with
`class_shares` (the majority class is "none", as in real labels where most windows do nothing),
and the shape of its class is added to the log prices of all four OHLC columns over `shape_bars`
consecutive bars at a random place in the window, carried on to the window's end:

- "none": nothing planted;
- "rally": a straight rise of height A over the shape's bars (the window ends A higher);
- "flush": a V, down by A over the first half of the shape and back up over the second half
  (the window ends where it would have, so only its path shows it).

A = strength * sigma * sqrt(shape_bars), sigma the window's own per-bar standard deviation of
log close returns: strength 1 is a move the size of one standard deviation of the window's own
random walk over the shape's length. Strength 0 plants nothing, so the labels carry no signal;
`shuffle_labels=True` plants the shapes and then permutes the labels (signal in the bars, none in
the labels). Labels end `horizon` bars after the window (t1), as triple-barrier labels do, so the
windows can be purged and embargoed like the pipeline's.

The unlabeled corpus (`unlabeled_corpus`) is cut from the same bars at a finer stride (several
hundred windows), and each of its windows carries a shape drawn with the same shares and strength,
from its own seed stream: many more occurrences of the shapes than there are labels, and no
labels, so TS2Vec pretraining has something to learn. `relabeled` permutes a planted set's labels
again, so one planted set (and what was fitted on its bars alone) serves several null runs.

Same arguments and seed, same output: the draws come from numpy Generators seeded here.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from moola.data.features import compute_features
from moola.data.raw import read_raw_series
from moola.data.windows import window_starts

CLASS_NAMES = ("none", "rally", "flush")
DEFAULT_SHARES = (0.5, 0.25, 0.25)
ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class PlantedSet:
    """A labeled planted-signal set, rows in time order of their start.

    Attributes:
        ohlc: (N, T, 4) float64 positive prices.
        feats: (N, 20) float64 engineered features of the planted windows.
        y: (N,) int64 labels, indices into CLASS_NAMES.
        starts, t1s: (N,) int64 nanoseconds: first bar, label horizon end.
        window_ids: (N,) "SYMBOL@start".
        strength: the strength planted.
        shuffled: True when the labels were permuted after planting.
    """

    ohlc: np.ndarray
    feats: np.ndarray
    y: np.ndarray
    starts: np.ndarray
    t1s: np.ndarray
    window_ids: np.ndarray
    strength: float
    shuffled: bool


@dataclasses.dataclass(frozen=True)
class RealWindows:
    """Unplanted real windows (prices, times, ids), read once and reused for every seed."""

    ohlc: np.ndarray  # (N, T, 4)
    starts: np.ndarray  # (N,) int64 ns
    t1s: np.ndarray  # (N,) int64 ns
    window_ids: np.ndarray  # (N,)


def real_windows(
    n_windows: int = 100, window: int = 128, horizon: int = 20, raw_dir: Path = ROOT / "data" / "raw"
) -> RealWindows:
    """Cut about `n_windows` windows of `window` bars from every raw file, evenly strided.

    Args:
        n_windows: windows wanted in total (the stride is the same for every file).
        window: bars per window.
        horizon: bars from a window's last bar to its label horizon end t1.
        raw_dir: folder of the parquet files.

    Returns:
        The windows in time order of their start.
    """
    series = [read_raw_series(path, path.name, window + horizon) for path in sorted(raw_dir.glob("*.parquet"))]
    total_bars = sum(s.n_bars - window - horizon for s in series)
    stride = max(1, total_bars // n_windows)
    ohlc, starts, t1s, ids = [], [], [], []
    for s in series:
        first_bars = window_starts(s.n_bars, window, stride, bars_after=horizon)
        for bar in first_bars:
            ohlc.append(s.ohlc[bar : bar + window])
            starts.append(s.timestamps[bar])
            t1s.append(s.timestamps[bar + window - 1 + horizon])
            ids.append(f"{s.symbol}@{s.timestamp_text(int(bar))}")
    starts_ns = np.asarray(starts, dtype="datetime64[ns]").astype(np.int64)
    t1s_ns = np.asarray(t1s, dtype="datetime64[ns]").astype(np.int64)
    order = np.lexsort((np.arange(len(ids)), t1s_ns, starts_ns))
    return RealWindows(np.stack(ohlc)[order], starts_ns[order], t1s_ns[order], np.asarray(ids)[order])


def shape_curve(label: int, amplitude: float, window: int, shape_bars: int, first_bar: int) -> np.ndarray:
    """The log-price offset of one planted shape, (window,) float64 (see the module docstring)."""
    curve = np.zeros(window)
    if label == 0 or amplitude == 0.0:
        return curve
    steps = np.arange(1, shape_bars + 1) / shape_bars  # (L,) 1/L .. 1
    if label == 1:
        shape = amplitude * steps
    else:
        shape = -amplitude * (1.0 - np.abs(2.0 * steps - 1.0))  # 0 -> -A at the middle -> 0
    curve[first_bar : first_bar + shape_bars] = shape
    curve[first_bar + shape_bars :] = shape[-1]
    return curve


def plant(
    real: RealWindows,
    strength: float,
    seed: int,
    shape_bars: int = 24,
    class_shares: Sequence[float] = DEFAULT_SHARES,
    shuffle_labels: bool = False,
    stream: int = 13,
) -> PlantedSet:
    """Label the real windows and plant each label's shape at `strength`.

    Args:
        real: the windows from `real_windows`.
        strength: A / (sigma * sqrt(shape_bars)), >= 0; 0 plants nothing.
        seed: seed of labels, shape positions and the shuffle.
        shape_bars: bars a shape spans (< window).
        class_shares: probability of each class of CLASS_NAMES.
        shuffle_labels: permute the labels after planting (no signal left in the labels).
        stream: second word of the Generator's seed (13 labeled sets, 17 unlabeled corpora).

    Returns:
        The PlantedSet.
    """
    rng = np.random.default_rng([seed, stream])
    n, window, _ = real.ohlc.shape
    labels = rng.choice(len(CLASS_NAMES), size=n, p=np.asarray(class_shares) / np.sum(class_shares))
    log_prices = np.log(real.ohlc)  # (N, T, 4)
    sigma = np.diff(log_prices[:, :, 3], axis=1).std(axis=1)  # (N,)
    first_bars = rng.integers(0, window - shape_bars + 1, size=n)
    planted = np.empty_like(log_prices)
    for i in range(n):
        amplitude = strength * sigma[i] * np.sqrt(shape_bars)
        planted[i] = (
            log_prices[i] + shape_curve(int(labels[i]), amplitude, window, shape_bars, int(first_bars[i]))[:, None]
        )
    ohlc = np.exp(planted)
    if shuffle_labels:
        labels = labels[rng.permutation(n)]
    feats = compute_features(ohlc[:, :, 0], ohlc[:, :, 1], ohlc[:, :, 2], ohlc[:, :, 3])
    return PlantedSet(
        ohlc, feats, labels.astype(np.int64), real.starts, real.t1s, real.window_ids, strength, shuffle_labels
    )


def unlabeled_corpus(real: RealWindows, strength: float, seed: int, shape_bars: int = 24) -> np.ndarray:
    """The unlabeled corpus of `real` windows, each carrying a shape as `plant` draws it: (N, T, 4) prices."""
    return plant(real, strength, seed, shape_bars, stream=17).ohlc


def relabeled(data: PlantedSet, seed: int) -> PlantedSet:
    """The same planted bars with the labels permuted by `seed` (no signal left in the labels)."""
    order = np.random.default_rng([seed, 29]).permutation(len(data.y))
    return dataclasses.replace(data, y=data.y[order], shuffled=True)


def add_control_arguments(
    parser: argparse.ArgumentParser,
    folds: int,
    val_fraction: float,
    n_windows: int = 100,
    strategy: str = "walk_forward",
) -> None:
    """The control's command-line settings (windows and folds), shared by the benchmarks."""
    parser.add_argument("--n-windows", type=int, default=n_windows)
    parser.add_argument("--window", type=int, default=128, help="bars per window")
    parser.add_argument("--shape-bars", type=int, default=24)
    parser.add_argument("--folds", type=int, default=folds)
    parser.add_argument("--train-fraction", type=float, default=0.4)
    parser.add_argument("--val-fraction", type=float, default=val_fraction)
    parser.add_argument("--embargo", default="5D")
    parser.add_argument(
        "--strategy",
        choices=["purged_kfold", "walk_forward"],
        default=strategy,
        help=(
            "purged_kfold: every window tested once (--folds blocks, --val-fraction per fold; --train-fraction unused)"
        ),
    )


def fold_plan(real: RealWindows, args: argparse.Namespace):
    """Purged, embargoed folds (`--strategy`) of the real windows from `add_control_arguments`' settings (checked)."""
    import pandas as pd

    from moola.data import folds

    embargo = pd.Timedelta(args.embargo)
    if getattr(args, "strategy", "walk_forward") == "purged_kfold":
        plan = folds.purged_kfold(real.starts, real.t1s, args.folds, args.val_fraction, embargo)
    else:
        plan = folds.walk_forward(real.starts, real.t1s, args.folds, args.train_fraction, args.val_fraction, embargo)
    problems = folds.plan_problems(real.starts, real.t1s, plan, embargo)
    assert not problems, problems
    return plan
