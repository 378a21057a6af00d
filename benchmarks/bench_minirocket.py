"""MiniRocket benchmark: UCR accuracy against the published figures, transform speed against aeon.

Baselines:
- accuracy: the MiniRocket authors' published UCR results (Dempster, Schmidt & Webb, KDD 2021),
  from the paper's companion repository (github.com/angus924/minirocket, results/):
  `results_ucr109_mean.csv` (mean over 30 resamples; the paper's figures) and column 0 of
  `accuracy_ucr109_resamples.csv` (resample 0, the archive's own train/test split, which is the
  split used here, so it is the figure compared; the 30-resample mean is printed for scale).
  The paper's classifier is ridge regression, so the comparison uses `classifier="ridge"`;
  the pipeline's default, logistic regression, is shown beside it.
- speed: aeon's numba MiniRocket transformer on the same data in the same process, both
  warmed up first (numba compiles on the first call), both on the same number of threads.

Needs aeon (the UCR files ship inside its wheel): `pip install aeon`. aeon is not a dependency
of moola; it pins older numpy/pandas, so a separate virtual environment is the safe place:

    python -m venv .venv-bench && .venv-bench/bin/pip install aeon torch scikit-learn pyyaml
    PYTHONPATH=src .venv-bench/bin/python benchmarks/bench_minirocket.py

Prints one accuracy row per dataset and one throughput block with the speed ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# Published MiniRocket accuracy (see the module docstring): (mean of 30 resamples, resample 0).
PUBLISHED = {
    "GunPoint": (0.992444, 0.993333),
    "ArrowHead": (0.880952, 0.862857),
    "ItalyPowerDemand": (0.959572, 0.968902),
    "OSULeaf": (0.957576, 0.958678),
}
TOLERANCE_POINTS = 1.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(PUBLISHED), choices=list(PUBLISHED))
    parser.add_argument("--seeds", type=int, default=5, help="MiniRocket seeds averaged per dataset")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and for aeon's numba")
    parser.add_argument("--windows", type=int, default=20_000, help="windows in the throughput test")
    parser.add_argument("--length", type=int, default=256, help="bars per window in the throughput test")
    parser.add_argument("--channels", type=int, default=4, help="channels per window in the throughput test")
    parser.add_argument("--repeats", type=int, default=3, help="timed transforms per implementation (best is kept)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda for moola's MiniRocket")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    return parser.parse_args()


def set_thread_pools(threads: int) -> None:
    """Fix every thread pool's size; must run before numpy, torch or numba start theirs."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)


def require_aeon():
    try:
        import aeon  # noqa: F401
        from aeon.datasets import load_from_ts_file
        from aeon.transformations.collection.convolution_based import MiniRocket as AeonMiniRocket
    except ImportError:
        print(
            "bench_minirocket: aeon is not installed. It supplies the UCR datasets (inside its wheel) and the "
            "speed baseline. Install it in a separate environment: python -m venv .venv-bench && "
            ".venv-bench/bin/pip install aeon torch scikit-learn pyyaml, then run "
            "PYTHONPATH=src .venv-bench/bin/python benchmarks/bench_minirocket.py",
            file=sys.stderr,
        )
        sys.exit(2)
    return aeon, load_from_ts_file, AeonMiniRocket


def load_ucr(aeon, load_from_ts_file, name: str):
    """Train/test arrays (N, T, C) float32 and integer labels from the .ts files in aeon's wheel."""
    import numpy as np

    folder = Path(aeon.__file__).parent / "datasets" / "data" / name
    X_train, y_train = load_from_ts_file(str(folder / f"{name}_TRAIN.ts"))
    X_test, y_test = load_from_ts_file(str(folder / f"{name}_TEST.ts"))
    classes = np.unique(np.concatenate([y_train, y_test]))
    to_moola = lambda X: np.ascontiguousarray(np.asarray(X, dtype=np.float32).transpose(0, 2, 1))  # noqa: E731
    return to_moola(X_train), np.searchsorted(classes, y_train), to_moola(X_test), np.searchsorted(classes, y_test)


def accuracy_table(args, aeon, load_from_ts_file) -> bool:

    from moola.models.minirocket import MiniRocket

    print(f"UCR accuracy on the archive's train/test split, mean over seeds 0..{args.seeds - 1} (min..max)")
    print(
        f"{'dataset':18s} {'train':>5s} {'test':>5s} {'T':>4s} {'paper r0':>8s} {'paper 30x':>9s} "
        f"{'moola ridge':>19s} {'moola logistic':>19s} {'ridge - r0':>10s}"
    )
    all_within = True
    for name in args.datasets:
        X_train, y_train, X_test, y_test = load_ucr(aeon, load_from_ts_file, name)
        scores = {}
        for classifier in ("ridge", "logistic"):
            accuracies = []
            for seed in range(args.seeds):
                model = MiniRocket(classifier=classifier, seed=seed, device=args.device).fit(X_train, y_train)
                accuracies.append(float((model.predict(X_test) == y_test).mean()))
            scores[classifier] = accuracies
        published_mean, published_split = PUBLISHED[name]
        gap = 100 * (statistics.mean(scores["ridge"]) - published_split)
        all_within &= abs(gap) <= TOLERANCE_POINTS
        cell = lambda a: f"{statistics.mean(a):.3f} ({min(a):.3f}..{max(a):.3f})"  # noqa: E731
        print(
            f"{name:18s} {len(y_train):5d} {len(y_test):5d} {X_train.shape[1]:4d} {published_split:8.3f} "
            f"{published_mean:9.3f} {cell(scores['ridge']):>19s} {cell(scores['logistic']):>19s} {gap:+8.1f}pt"
        )
    print(
        "paper r0: published accuracy on this same split (resample 0); paper 30x: mean over 30 resamples, "
        "shown for scale (other splits, not comparable one to one)"
    )
    verdict = "met" if all_within else "NOT met"
    print(f"target: moola ridge within {TOLERANCE_POINTS} points of the paper on the same split: {verdict}")
    return all_within


def throughput(args, AeonMiniRocket) -> float:
    import numpy as np
    import torch

    from moola.models.minirocket import MiniRocket

    threads = args.threads
    rng = np.random.default_rng(0)
    # Random-walk windows shaped like the pipeline's OHLC input: (N, T, C) float32.
    X = np.cumsum(rng.normal(size=(args.windows, args.length, args.channels)), axis=1).astype(np.float32)
    y = np.arange(args.windows) % 3
    X_aeon = np.ascontiguousarray(X.transpose(0, 2, 1))  # aeon wants (N, C, T)
    fit_rows = min(256, args.windows)  # fitting draws one series per kernel/dilation; speed is not timed here

    ours = MiniRocket(seed=0, device=args.device).fit(X[:fit_rows], y[:fit_rows])
    theirs = AeonMiniRocket(n_kernels=10_000, n_jobs=threads, random_state=0).fit(X_aeon[:fit_rows])
    ours.transform(X[:256])  # warm-up: allocator, BLAS
    theirs.transform(X_aeon[:256])  # warm-up: numba compilation

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        if args.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    ours_times, theirs_times = [], []
    for _ in range(args.repeats):  # interleaved, so load from other processes hits both alike
        ours_times.append(timed(lambda: ours.transform(X)))
        theirs_times.append(timed(lambda: theirs.transform(X_aeon)))
    ours_rate = args.windows / min(ours_times)
    theirs_rate = args.windows / min(theirs_times)
    print(
        f"\ntransform throughput: {args.windows:,} windows x {args.channels} channels x {args.length} bars, float32, "
        f"{threads} threads, best of {args.repeats} (median in brackets), features {ours.num_output_features:,}"
    )
    ours_median = args.windows / statistics.median(ours_times)
    theirs_median = args.windows / statistics.median(theirs_times)
    ours_label = f"moola MiniRocket ({args.device}):"
    print(f"  {ours_label:26s}{ours_rate:9,.0f} windows/s ({ours_median:,.0f})")
    print(f"  {'aeon MiniRocket (numba):':26s}{theirs_rate:9,.0f} windows/s ({theirs_median:,.0f})")
    ratio = ours_rate / theirs_rate
    median_ratio = statistics.median(theirs_times) / statistics.median(ours_times)
    verdict = "met" if ratio >= 1 else "NOT met"
    print(f"  ratio moola / aeon: {ratio:.2f}x best, {median_ratio:.2f}x median (target >= 1.00: {verdict})")
    return ratio


def main() -> int:
    args = parse_args()
    set_thread_pools(args.threads)
    aeon, load_from_ts_file, AeonMiniRocket = require_aeon()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    versions = f"torch {torch.__version__}, aeon {aeon.__version__}, numpy {np.__version__}"
    print(f"{versions}, threads {args.threads}, device {args.device}")
    if not args.skip_accuracy:
        accuracy_table(args, aeon, load_from_ts_file)
    if not args.skip_throughput:
        throughput(args, AeonMiniRocket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
