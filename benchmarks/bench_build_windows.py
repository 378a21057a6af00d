"""Benchmark: `moola build-windows` on about 1.8 million 1-minute bars with session gaps, T = 105.

The corpus is five years of weekday sessions (00:00-23:00 UTC, so every night and weekend is a
gap) as 60 monthly parquet files of one symbol, joined through build_windows.symbols, with 100
binary hand labels (spans, grades). The stage runs as a child process once per unlabeled stride
(1 and 4) with max_gap = 5min; for each run it prints wall time, the child's peak RSS, the bytes
of each output folder and the bytes per raw bar, against the targets: under 60 s and a peak
under 2x the output arrays (X_ohlc + X_feats20 + y of both folders).

Usage: python benchmarks/bench_build_windows.py [--months 60] [--strides 1 4] [--keep FOLDER]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
TARGET_MEMORY_RATIO = 2.0


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def make_project(root: Path, months: int) -> dict:
    """A project folder with the corpus, the hand labels and a params.yaml that reads them."""
    import yaml

    sys.path.insert(0, str(REPO / "tests" / "data"))
    from intraday_fixture import write_intraday_data

    (root / "data").mkdir(parents=True)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    written = write_intraday_data(
        root / "data", months=months, n_labels=100, window=105, first_month="2019-01", session=("00:00:00", "23:00:00")
    )
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["build_windows"].update(written["build_windows"], plot_examples=3)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return written


def run_stage(root: Path, version: str, stride: int, workers: int) -> dict:
    """Run `moola build-windows --version <version>` with the given stride; wall time and peak RSS."""
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["build_windows"]["unlabeled_stride"] = stride
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "MOOLA_ROOT": str(root), "MOOLA_THREADS": str(workers)}
    begin = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "moola.cli", "build-windows", "--version", version],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - begin
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"moola build-windows failed:\n{output}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": seconds, "cpu": cpu, "peak_rss": usage.ru_maxrss * 1024, "output": output}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=60, help="monthly files (60 = about 1.8 million bars)")
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 4], help="unlabeled strides to run")
    parser.add_argument("--workers", type=int, default=2, help="MOOLA_THREADS of the stage (the target is for 2 cores)")
    parser.add_argument("--keep", metavar="FOLDER", help="build in FOLDER and keep it (default: a temporary folder)")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="moola-bench-"))
    try:
        project = root / "project"
        begin = time.perf_counter()
        written = make_project(project, args.months)
        raw_dir = project / "data" / "raw"
        raw_bytes = sum((raw_dir / name).stat().st_size for name in written["files"])
        bars = sum(len(pd.read_parquet(raw_dir / name, columns=["close"])) for name in written["files"])
        print(
            f"corpus: {bars:,} one-minute bars in {len(written['files'])} monthly files ({raw_bytes / 2**20:,.1f} MiB, "
            f"{raw_bytes / bars:.1f} bytes/bar), weekday sessions 00:00-23:00 UTC, 100 hand labels; "
            f"made in {time.perf_counter() - begin:.1f} s"
        )
        print(f"settings: T = 105, max_gap = 5min, MOOLA_THREADS = {args.workers}, {os.cpu_count()} CPUs visible")
        for i, stride in enumerate(args.strides):
            version = f"s{stride}"
            load_before = os.getloadavg()[0]
            result = run_stage(project, version, stride, args.workers)
            folders = {kind: project / "data" / f"{kind}_windows" / version for kind in ("labeled", "unlabeled")}
            arrays = sum(
                (folder / name).stat().st_size
                for folder in folders.values()
                for name in ("X_ohlc.npy", "X_feats20.npy", "y.npy")
                if (folder / name).exists()
            )
            n_unlabeled = json.loads((folders["unlabeled"] / "meta.json").read_text())["n"]
            dropped = json.loads((folders["unlabeled"] / "manifest.json").read_text())["dropped"].get("max_gap", 0)
            ratio = result["peak_rss"] / arrays
            print(
                f"\nstride {stride}: {n_unlabeled:,} unlabeled windows ({dropped:,} dropped across gaps), "
                f"time {result['seconds']:.1f} s = {result['seconds'] / TARGET_SECONDS:.2f}x the "
                f"{TARGET_SECONDS:.0f} s target"
            )
            # Wall time depends on what else runs; CPU seconds do not, and bound the wall time on
            # `workers` free cores from below by cpu / workers.
            print(
                f"  CPU (user + sys) {result['cpu']:.1f} s -> {result['cpu'] / args.workers:.1f} s on {args.workers} "
                "free cores "
                f"= {result['cpu'] / args.workers / TARGET_SECONDS:.2f}x the target; load average at start "
                f"{load_before:.1f}"
            )
            print(
                f"  peak RSS {result['peak_rss'] / 2**20:,.0f} MiB = {ratio:.2f}x the output arrays "
                f"({arrays / 2**20:,.0f} MiB; target < {TARGET_MEMORY_RATIO:.0f}x)"
            )
            for kind, folder in folders.items():
                size = folder_bytes(folder)
                print(f"  {kind:<9} folder {size / 2**20:>10,.1f} MiB = {size / bars:>8.1f} bytes per raw bar")
            x = np.load(folders["unlabeled"] / "X_ohlc.npy", mmap_mode="r")
            print(f"  X_ohlc.npy {x.shape} {x.dtype}, memory-mappable")
            if i + 1 < len(args.strides):
                shutil.rmtree(folders["unlabeled"])  # keep the disk use to one large folder at a time
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
