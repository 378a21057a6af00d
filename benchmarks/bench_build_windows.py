"""Benchmark: build_windows on a 2,000,000-bar corpus block-bootstrapped from the default raw data.

Prints bars/s, seconds and peak memory of reading + validating + cutting + labeling +
features, against two baselines:

* memory: the size of the output arrays (X_ohlc + X_feats20 + y of both sets); target < 2x;
* speed: the same features computed by a per-window Python loop, timed on the first
  `--loop-windows` windows and extrapolated to all of them.

Usage: python benchmarks/bench_build_windows.py [--bars 2000000] [--stride 16] [--symbols 8]
The corpus is built in a child process, so the parent's peak RSS measures the build alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RAW_FILES = ["SPX_1d.parquet", "IXIC_1d.parquet", "EURUSD_1h.parquet", "GOOG_1d.parquet"]
BLOCK = 64  # bars per bootstrap block: keeps volatility clusters and intrabar shapes together


def make_corpus(folder: Path, total_bars: int, symbols: int, seed: int) -> list[str]:
    """Write `symbols` parquet files of block-bootstrapped bars (seeded); return their names."""
    import pandas as pd

    from moola.io import write_parquet

    # Each bar relative to the previous close: log open, high, low, close moves, plus volume.
    moves, volumes = [], []
    for name in RAW_FILES:
        frame = pd.read_parquet(REPO / "data" / "raw" / name)
        previous = frame["close"].to_numpy()[:-1]
        bars = frame[["open", "high", "low", "close"]].to_numpy()[1:]
        moves.append(np.log(bars / previous[:, None]))  # (n-1, 4)
        volumes.append(frame["volume"].to_numpy()[1:])
    moves = np.concatenate(moves)
    volumes = np.concatenate(volumes)
    rng = np.random.default_rng(seed)
    names = []
    per_symbol = total_bars // symbols
    for i in range(symbols):
        n_blocks = -(-per_symbol // BLOCK)
        block_starts = rng.integers(0, len(moves) - BLOCK, n_blocks)
        rows = (block_starts[:, None] + np.arange(BLOCK)).reshape(-1)[:per_symbol]  # (per_symbol,)
        picked = moves[rows]
        close = 100.0 * np.exp(np.cumsum(picked[:, 3]))
        previous_close = np.concatenate([[100.0], close[:-1]])
        ohlc = previous_close[:, None] * np.exp(picked)
        ohlc[:, 3] = close
        # exp/cumsum rounding may put a close one ulp beyond its high or low: clamp the extremes.
        ohlc[:, 1] = ohlc.max(axis=1)
        ohlc[:, 2] = ohlc.min(axis=1)
        frame = pd.DataFrame(
            {
                "timestamp": pd.date_range("1990-01-01", periods=per_symbol, freq="min", tz="UTC"),
                "open": ohlc[:, 0],
                "high": ohlc[:, 1],
                "low": ohlc[:, 2],
                "close": ohlc[:, 3],
                "volume": volumes[rows],
            }
        )
        name = f"BOOT{i:02d}_1m.parquet"
        write_parquet(folder / name, frame)
        names.append(name)
    return names


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(folder: Path, names: list[str], window: int, stride: int, labeled_stride: int, params) -> dict:
    """Read, validate, cut, label and featurise every file; return timings and the sets."""
    from moola.data.raw import read_raw_series
    from moola.data.windows import triple_barrier_windows, unlabeled_windows

    start = time.perf_counter()
    series = [read_raw_series(folder / name, name, window) for name in names]
    read_s = time.perf_counter() - start
    labeled = triple_barrier_windows(
        series, window, labeled_stride, params.barrier_k, params.horizon, params.vol_span
    )
    unlabeled = unlabeled_windows(series, window, stride)
    total_s = time.perf_counter() - start
    return {"series": series, "labeled": labeled, "unlabeled": unlabeled, "read_s": read_s, "total_s": total_s}


def loop_baseline(series, window: int, stride: int, n_windows: int) -> float:
    """Seconds per window of a per-window Python loop (normalise + features one window at a time)."""
    from moola.data.features import compute_features

    raw = series[0]
    starts = np.arange(0, raw.n_bars - window + 1, stride)[:n_windows]
    begin = time.perf_counter()
    for s in starts:
        bars = raw.ohlc[s : s + window]  # (T, 4)
        _ = (bars / bars[0, 3]).astype(np.float32)
        compute_features(*(bars[None, :, i] for i in range(4)), raw.volume[None, s : s + window])
    return (time.perf_counter() - begin) / len(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=2_000_000, help="bars in the corpus (all symbols)")
    parser.add_argument("--symbols", type=int, default=8, help="files the corpus is split into")
    parser.add_argument("--stride", type=int, default=16, help="unlabeled stride (params.yaml has 4)")
    parser.add_argument("--loop-windows", type=int, default=2000, help="windows timed for the loop baseline")
    parser.add_argument("--write", action="store_true", help="also time writing the unlabeled folder")
    parser.add_argument("--make-corpus", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from moola.params import load_base, load_params, load_section
    from moola.stages.build_windows import BuildWindowsParams

    all_params = load_params(REPO / "params.yaml")
    params = load_section(BuildWindowsParams, "build_windows", all_params)
    seed = load_base(all_params).seed
    if args.make_corpus:
        names = make_corpus(Path(args.make_corpus), args.bars, args.symbols, seed)
        print(json.dumps(names))
        return

    with tempfile.TemporaryDirectory(prefix="moola-bench-") as tmp:
        folder = Path(tmp)
        begin = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, "--make-corpus", tmp, "--bars", str(args.bars), "--symbols", str(args.symbols)],
            check=True, capture_output=True, text=True,
        )
        names = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"corpus: {args.bars:,} bars in {len(names)} files, block bootstrap of the default raw data "
              f"(block {BLOCK} bars, seed {seed}), made in {time.perf_counter() - begin:.1f} s")
        threads = os.environ.get("OMP_NUM_THREADS", "default")
        print(f"settings: T = {params.window}, unlabeled stride = {args.stride}, labeled stride = "
              f"{params.labeled_stride}, horizon = {params.horizon}, BLAS threads = {threads}")

        import moola.data.windows  # noqa: F401  (imports out of the measured peak)
        import pandas  # noqa: F401
        import pyarrow.parquet  # noqa: F401

        rss_before = _rss_mib()
        peak_before = _peak_rss_mib()
        result = build(folder, names, params.window, args.stride, params.labeled_stride, params)
        peak_rss = max(_peak_rss_mib(), peak_before) - rss_before
        labeled, unlabeled = result["labeled"], result["unlabeled"]
        output_bytes = sum(a.nbytes for ws in (labeled, unlabeled) for a in ws.arrays().values())
        output_mib = output_bytes / 2**20
        bars = sum(s.n_bars for s in result["series"])

        print(f"windows: {unlabeled.n:,} unlabeled, {labeled.n:,} labeled {labeled.class_counts()}")
        print(f"time: read + validate {result['read_s']:.2f} s, total build {result['total_s']:.2f} s "
              f"-> {bars / result['total_s']:,.0f} bars/s, {unlabeled.n / result['total_s']:,.0f} windows/s")
        print(f"memory: output arrays {output_mib:,.0f} MiB; peak RSS growth {peak_rss:,.0f} MiB "
              f"= {peak_rss / output_mib:.2f}x the output arrays (target < 2x)")

        series, build_s = result["series"], result["total_s"]
        del result
        per_window = loop_baseline(series, params.window, args.stride, args.loop_windows)
        loop_total = per_window * (unlabeled.n + labeled.n)
        print(f"baseline, per-window Python loop (normalise + features, {args.loop_windows:,} windows timed): "
              f"{per_window * 1e6:,.0f} us/window -> {loop_total:,.1f} s extrapolated; "
              f"vectorised build (reading included) is {loop_total / build_s:.1f}x faster")

        # tracemalloc pass: numpy's allocations only (arrow buffers are not traced), a second view of the peak.
        del labeled, unlabeled
        tracemalloc.start()
        again = build(folder, names, params.window, args.stride, params.labeled_stride, params)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"memory (tracemalloc, numpy/python allocations): peak {traced_peak / 2**20:,.0f} MiB "
              f"= {traced_peak / output_bytes:.2f}x the output arrays")

        if args.write:
            from moola.data.windows import window_meta
            from moola.stages.build_windows import write_version_folder

            begin = time.perf_counter()
            meta = window_meta(again["unlabeled"], "v1", "none")
            write_version_folder(folder / "out" / "v1", again["unlabeled"], meta, {})
            print(f"write unlabeled folder (fingerprint + npy + parquet + sha256): {time.perf_counter() - begin:.2f} s")


if __name__ == "__main__":
    main()
