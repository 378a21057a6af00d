"""Benchmark: `moola --help` start-up time (target < 0.5 s), against a bare Python start.

Baseline: `python -c pass` with the same interpreter, the floor any Python command pays. Each
command runs `--repeats` times in a fresh process; the median wall time is printed with its
ratio to the baseline. Also printed: the start-up of `moola train --help`, which imports the
train stage's command module (still without torch), and whether any heavy library was imported.

Usage: python benchmarks/bench_cli_startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "numpy", "pandas", "sklearn", "matplotlib")


def wall_time(command: list[str], repeats: int) -> float:
    """Median wall-clock seconds of `command` over `repeats` fresh processes (one warm-up run first)."""
    subprocess.run(command, capture_output=True, check=False)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def heavy_imports(argv: list[str]) -> list[str]:
    code = (
        "import sys\nfrom moola import cli\n"
        f"try:\n    cli.main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    marker = [line for line in result.stdout.splitlines() if line.startswith("HEAVY:")][-1]
    return [name for name in marker[len("HEAVY:") :].split(",") if name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "moola --help": [sys.executable, "-m", "moola.cli", "--help"],
        "moola train --help": [sys.executable, "-m", "moola.cli", "train", "--help"],
    }
    baseline = None
    print(f"median of {args.repeats} fresh processes each")
    for label, command in cases.items():
        seconds = wall_time(command, args.repeats)
        baseline = baseline or seconds
        print(f"  {label:<28} {seconds:6.3f} s   ratio {seconds / baseline:5.2f}")
    for argv in (["--help"], ["train", "--help"]):
        found = heavy_imports(argv)
        print(f"  heavy modules imported by moola {' '.join(argv)}: {', '.join(found) or 'none'}")
    print("  target: moola --help < 0.5 s")


if __name__ == "__main__":
    main()
