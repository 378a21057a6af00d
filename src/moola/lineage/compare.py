"""`moola compare RUN_A RUN_B`: does A differ from B, paired on their common out-of-fold windows?

Each run is a manifest (a path, or a run id under artifacts/runs/); its out-of-fold table lies
beside it. Every metric is compared on the windows both runs tested: A minus B with a 95%
paired bootstrap interval and a two-sided p-value (exact McNemar for accuracy, a paired
permutation test otherwise). "Differs" is said only when p < alpha. The accuracy line carries
the detectable effect: the smallest gain of A over B that these windows would show 80% of the
time, and the windows a 10-point gain needs (docs/METRICS.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", help="run A: a manifest.json path or a run id under artifacts/runs/")
    parser.add_argument("run_b", help="run B: likewise")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdict (default 0.05)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap and permutation draws (default 1000)")


def _manifest_path(text: str) -> Path:
    from moola.artifacts import layout
    from moola.paths import project_root

    given = Path(text)
    if given.suffix == ".json" or given.is_dir():
        return given / layout.MANIFEST if given.is_dir() else given
    return layout.run_dir(project_root(), text) / layout.MANIFEST


def _out_of_fold(text: str):
    from moola.artifacts import common, layout, run_manifest
    from moola.artifacts.windows import class_names_of
    from moola.errors import MoolaError
    from moola.evaluation.significance import OutOfFold
    from moola.io import read_json, sha256_file
    from moola.paths import project_root

    path = _manifest_path(text)
    if not path.is_file():
        raise MoolaError(
            f"run manifest not found: {common.shown(path)}: name a run id under artifacts/runs/ or a "
            "manifest.json path (`moola evaluate` makes one)"
        )
    manifest = run_manifest.read(path)
    table_file = path.parent / layout.PREDICTIONS
    if not table_file.is_file():
        raise MoolaError(
            f"{common.shown(table_file)} not found: run {manifest['run_id']} was evaluated before moola stored "
            "out-of-fold predictions; rerun `moola evaluate` for it"
        )
    claimed = (manifest.get("outputs") or {}).get(layout.PREDICTIONS)
    if claimed != sha256_file(table_file):
        raise MoolaError(
            f"{common.shown(table_file)} does not match its sha256 in {common.shown(path)}: restore or re-evaluate it"
        )
    root = project_root()
    run_manifest.refuse_paths_outside(manifest, root, common.shown(path))
    if not manifest["paths"].get("labeled"):
        raise MoolaError(f"{common.shown(path)} names no labeled folder: it is damaged; rerun `moola evaluate`")
    labeled = root / manifest["paths"]["labeled"]
    classes = class_names_of(read_json(labeled / layout.META, "labeled meta.json"), common.shown(labeled))
    return manifest, OutOfFold.from_frame(
        common.read_parquet(table_file, common.shown(table_file)), classes, common.shown(table_file)
    )


def run(args: argparse.Namespace) -> int:
    from moola.errors import MoolaError
    from moola.evaluation.power import METHOD
    from moola.evaluation.significance import compare_runs

    if not 0 < args.alpha < 1 or not 100 <= args.resamples <= 100_000:
        raise MoolaError("--alpha must be in (0, 1) and --resamples in 100..100000")
    manifest_a, oof_a = _out_of_fold(args.run_a)
    manifest_b, oof_b = _out_of_fold(args.run_b)
    settings = manifest_a["params"].get("evaluate") or {}
    n, comparisons = compare_runs(
        oof_a,
        oof_b,
        n_resamples=args.resamples,
        seed=int(manifest_a.get("seed", 0)),
        ece_bins=int(settings.get("ece_bins", 10)),
    )
    print(
        f"run A {manifest_a['run_id']} ({manifest_a['model']['name']}) minus run B {manifest_b['run_id']} "
        f"({manifest_b['model']['name']}) on {n} common out-of-fold windows (A {oof_a.n}, B {oof_b.n}); 95% paired "
        "intervals"
    )
    print(f"  {'metric':<14}{'A - B':>9}  {'95% interval':<20}{'p (two-sided)':>14}  verdict")
    for metric, c in comparisons.items():
        verdict = "differs" if c.p_value < args.alpha else "not distinguishable"
        print(
            f"  {metric:<14}{c.difference:>+9.3f}  [{c.ci_low:+.3f}, {c.ci_high:+.3f}]{'':<4}{c.p_value:>14.3g}  "
            f"{verdict}"
        )
    print(f"  accuracy: {accuracy_verdict(comparisons['accuracy'], args.alpha)}")
    print(
        f"  tests: accuracy {comparisons['accuracy'].test}; others {comparisons['brier'].test}; detectable effect "
        f"{METHOD}"
    )
    return 0


def accuracy_verdict(comparison, alpha: float) -> str:
    """E.g. "not distinguishable (p = 0.79); with 45 windows only a gain of 21 points or more is seen 80% of the
    time; ..."."""
    from moola.evaluation.power import detectability_text
    from moola.evaluation.significance import detectable

    said = "differs" if comparison.p_value < alpha else "not distinguishable"
    return f"{said} (p = {comparison.p_value:.3g}); {detectability_text(detectable(comparison, alpha))}"
