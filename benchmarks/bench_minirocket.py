"""MiniRocket benchmark: UCR accuracy against the published figures, transform speed against aeon.

Baselines:
- accuracy: the MiniRocket authors' published UCR results (Dempster, Schmidt & Webb, KDD 2021),
  from the paper's companion repository (github.com/angus924/minirocket, results/):
  `results_ucr109_mean.csv` (mean over 30 resamples; the paper's figures) and column 0 of
  `accuracy_ucr109_resamples.csv` (resample 0, the archive's own train/test split, which is the
  split used here, so it is the figure compared; the 30-resample mean is printed for scale).
  The paper's classifier is ridge regression, so the comparison uses `classifier="ridge"`;
  the pipeline's default, logistic regression, is shown beside it.
- speed: aeon's numba MiniRocket transformer (multivariate, 9,996 features, 32 dilations per
  kernel at most) on the same windows, both warmed up first (numba compiles on the first call),
  both on the same number of threads. The runs alternate, moola then aeon, `--runs` times per
  thread count, so load from other processes hits both alike; the figure is the median of the
  per-pair ratios aeon time / moola time, with a sign test of "ratio > target" over the pairs.

aeon is not a dependency of moola and pins older numpy/pandas, so it lives in its own virtual
environment and runs in a worker process (this script with `--serve-aeon`, started with that
environment's python); moola runs in this process, in the project's environment:

    python -m venv ~/.venvs/aeon && ~/.venvs/aeon/bin/pip install aeon
    PYTHONPATH=src python benchmarks/bench_minirocket.py --aeon-python ~/.venvs/aeon/bin/python

Without `--aeon-python` the worker uses this interpreter, which then needs aeon itself. The UCR
files come from aeon's wheel, read by the worker. Prints one accuracy row per dataset and one
throughput row per thread count.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
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
NUM_FEATURES = 9996  # both implementations: 84 kernels x 119 features
MAX_DILATIONS = 32


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aeon-python", default=sys.executable, help="python of the environment that has aeon")
    parser.add_argument("--datasets", nargs="+", default=list(PUBLISHED), choices=list(PUBLISHED))
    parser.add_argument("--seeds", type=int, default=5, help="MiniRocket seeds averaged per dataset")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="thread counts timed, in order")
    parser.add_argument("--windows", type=int, default=20_000, help="windows in the throughput test")
    parser.add_argument("--length", type=int, default=256, help="bars per window in the throughput test")
    parser.add_argument("--channels", type=int, default=4, help="channels per window in the throughput test")
    parser.add_argument("--runs", type=int, default=5, help="alternating timed runs per implementation and thread")
    parser.add_argument("--target", type=float, default=2.0, help="speed ratio moola / aeon the sign test checks")
    parser.add_argument("--device", default="cpu", help="cpu or cuda for moola's MiniRocket")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--serve-aeon", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def random_walks(windows: int, length: int, channels: int):
    """Random-walk windows shaped like the pipeline's OHLC input: (N, T, C) float32, seed 0."""
    import numpy as np

    rng = np.random.default_rng(0)
    return np.cumsum(rng.normal(size=(windows, length, channels)), axis=1).astype(np.float32)


# ---------------------------------------------------------------------- aeon worker process


def serve_aeon() -> int:
    """Answer JSON commands on stdin, one per line, with one JSON line each on stdout."""
    try:
        import aeon
        import numba
        import numpy as np
        from aeon.datasets import load_from_ts_file
        from aeon.transformations.collection.convolution_based import MiniRocket as AeonMiniRocket
    except ImportError as error:
        print(f"bench_minirocket: {sys.executable} cannot import aeon ({error})", file=sys.stderr)
        return 2

    model, X = None, None
    for line in sys.stdin:
        request = json.loads(line)
        command = request["cmd"]
        if command == "versions":
            reply = {"aeon": aeon.__version__, "numba": numba.__version__, "numpy": np.__version__}
        elif command == "ucr":
            folder = Path(aeon.__file__).parent / "datasets" / "data" / request["name"]
            arrays = {}
            for split in ("TRAIN", "TEST"):
                X_split, y_split = load_from_ts_file(str(folder / f"{request['name']}_{split}.ts"))
                arrays[f"X_{split.lower()}"] = np.asarray(X_split, dtype=np.float32)  # (N, C, T)
                arrays[f"y_{split.lower()}"] = np.asarray(y_split).astype(str)
            np.savez(request["path"], **arrays)
            reply = {"ok": True}
        elif command == "setup":
            X = np.ascontiguousarray(np.load(request["path"]).transpose(0, 2, 1))  # aeon wants (N, C, T)
            threads = request["threads"]
            model = AeonMiniRocket(
                n_kernels=NUM_FEATURES + 4,  # aeon rounds down to a multiple of 84: 9,996
                max_dilations_per_kernel=MAX_DILATIONS,
                n_jobs=threads,
                random_state=0,
            ).fit(X[: request["fit_rows"]])
            model.transform(X[:256])  # warm-up: numba compilation
            reply = {"features": int(model.transform(X[:1]).shape[1])}
        elif command == "time":
            start = time.perf_counter()
            model.transform(X)
            reply = {"seconds": time.perf_counter() - start}
        else:
            reply = {"error": f"unknown command {command!r}"}
        print(json.dumps(reply), flush=True)
    return 0


class AeonWorker:
    """The aeon side, in its own process (and virtual environment)."""

    def __init__(self, python: str, threads: int):
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
            env[var] = str(threads)
        env.pop("PYTHONPATH", None)  # the worker needs only aeon, not moola
        try:
            self.process = subprocess.Popen(
                [python, __file__, "--serve-aeon"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
            )
        except OSError as error:
            sys.exit(f"bench_minirocket: cannot start the aeon worker with {python}: {error}")
        versions = self.ask(cmd="versions")
        self.versions = f"aeon {versions['aeon']} (numba {versions['numba']}, numpy {versions['numpy']})"

    def ask(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            sys.exit(
                "bench_minirocket: the aeon worker stopped (is aeon installed there?). Make an environment "
                "with `python -m venv ~/.venvs/aeon && ~/.venvs/aeon/bin/pip install aeon` and pass "
                "--aeon-python ~/.venvs/aeon/bin/python"
            )
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


# ---------------------------------------------------------------------- accuracy


def load_ucr(worker: AeonWorker, name: str, folder: str):
    """Train/test arrays (N, T, C) float32 and integer labels of a UCR set from aeon's wheel."""
    import numpy as np

    path = os.path.join(folder, f"{name}.npz")
    worker.ask(cmd="ucr", name=name, path=path)
    data = np.load(path)
    classes = np.unique(np.concatenate([data["y_train"], data["y_test"]]))
    to_moola = lambda X: np.ascontiguousarray(X.transpose(0, 2, 1))  # noqa: E731
    return (
        to_moola(data["X_train"]),
        np.searchsorted(classes, data["y_train"]),
        to_moola(data["X_test"]),
        np.searchsorted(classes, data["y_test"]),
    )


def accuracy_table(args, worker: AeonWorker, folder: str) -> bool:
    from moola.models.minirocket import MiniRocket

    print(f"\nUCR accuracy on the archive's train/test split, mean over seeds 0..{args.seeds - 1} (min..max)")
    print(
        f"{'dataset':18s} {'train':>5s} {'test':>5s} {'T':>4s} {'paper r0':>8s} {'paper 30x':>9s} "
        f"{'moola ridge':>19s} {'moola logistic':>19s} {'ridge - r0':>10s}"
    )
    all_within = True
    for name in args.datasets:
        X_train, y_train, X_test, y_test = load_ucr(worker, name, folder)
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


# ---------------------------------------------------------------------- throughput


def sign_test_p(successes: int, trials: int) -> float:
    """One-sided sign test: P(at least `successes` of `trials` fair coin flips)."""
    return sum(math.comb(trials, k) for k in range(successes, trials + 1)) / 2**trials


def throughput(args, folder: str) -> bool:
    import numpy as np
    import torch

    from moola.models.minirocket import MiniRocket

    X = random_walks(args.windows, args.length, args.channels)
    path = os.path.join(folder, "windows.npy")
    np.save(path, X)
    y = np.arange(args.windows) % 3
    fit_rows = min(256, args.windows)  # fitting draws one series per kernel/dilation; not timed

    print(
        f"\ntransform throughput: {args.windows:,} windows x {args.channels} channels x {args.length} bars, "
        f"float32, {NUM_FEATURES:,} features, {args.runs} alternating runs each (moola, aeon, moola, ...)"
    )
    print(
        f"{'threads':>7s} {'moola windows/s':>24s} {'aeon windows/s':>24s} {'ratio moola/aeon':>22s} "
        f"{'pairs > ' + format(args.target, '.1f') + 'x':>12s} {'sign test p':>11s}"
    )
    all_met = True
    for threads in args.threads:
        torch.set_num_threads(threads)
        worker = AeonWorker(args.aeon_python, threads)
        aeon_features = worker.ask(cmd="setup", path=path, threads=threads, fit_rows=fit_rows)["features"]
        ours = MiniRocket(seed=0, device=args.device).fit(X[:fit_rows], y[:fit_rows])
        assert aeon_features == ours.num_output_features == NUM_FEATURES, (aeon_features, ours.num_output_features)
        ours.transform(X[:256])  # warm-up: compiled-kernel cache, allocator

        def moola_seconds(ours=ours) -> float:  # bound: called within this iteration only
            start = time.perf_counter()
            ours.transform(X)
            if args.device == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start

        moola_times, aeon_times = [], []
        for _ in range(args.runs):
            moola_times.append(moola_seconds())
            aeon_times.append(worker.ask(cmd="time")["seconds"])
        worker.close()
        ratios = [a / m for a, m in zip(aeon_times, moola_times, strict=False)]
        faster = sum(r > args.target for r in ratios)
        p_value = sign_test_p(faster, len(ratios))
        median_ratio = statistics.median(ratios)
        all_met &= median_ratio >= args.target
        rate = lambda times: (  # noqa: E731
            f"{args.windows / statistics.median(times):,.0f} "
            f"({args.windows / max(times):,.0f}..{args.windows / min(times):,.0f})"
        )
        print(
            f"{threads:7d} {rate(moola_times):>24s} {rate(aeon_times):>24s} "
            f"{f'{median_ratio:.2f}x ({min(ratios):.2f}..{max(ratios):.2f})':>22s} "
            f"{f'{faster}/{len(ratios)}':>12s} {p_value:11.3f}"
        )
    print(
        "windows/s: median (slowest..fastest run); ratio: median of the per-pair ratios aeon time / moola time "
        f"(min..max); sign test: one-sided p of that many pairs above {args.target:.1f}x if the median ratio were "
        f"{args.target:.1f}x"
    )
    verdict = "met" if all_met else "NOT met"
    print(f"target: median ratio >= {args.target:.1f}x on every thread count timed: {verdict}")
    return all_met


def numba_version() -> str:
    try:
        import numba
    except ImportError:
        return "not installed"
    return numba.__version__


def main() -> int:
    args = parse_args()
    if args.serve_aeon:
        return serve_aeon()
    import numpy as np
    import torch

    threads = max(args.threads)
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        worker = AeonWorker(args.aeon_python, threads)
        moola_versions = f"torch {torch.__version__}, numpy {np.__version__}, numba {numba_version()}"
        print(f"moola: {moola_versions}; baseline: {worker.versions}; device {args.device}")
        if not args.skip_accuracy:
            accuracy_table(args, worker, folder)
        worker.close()
        if not args.skip_throughput:
            throughput(args, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
