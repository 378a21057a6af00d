"""False-refusal rate of the synthetic-cache KS guard for a generator that draws real windows.

The guard (`moola.data.synth.ks_report` per fold, `combined_ks_pval` over folds and features,
refused below `train.min_ks_pval`) should refuse a generator whose windows come from the same
distribution as the real train windows at most alpha of the time. Here the "generator" is exact:
for every seed and every fold of the split, a random set of the labeled windows (as many as the
fold's train rows) plays the train rows, and the synthetic rows are drawn with replacement from
the other, held-out windows (ratio x n_train of them, each recorded with its held-out parent, so
duplicates are children of one parent). Prints, for alpha, the share of seeds refused with its
exact (Clopper-Pearson) 95% interval, beside two references on the same draws:

- `old rule`: the previous guard (per fold, Simes over the features of KS against all train rows
  with every synthetic row counted; the lowest fold p-value), whose rate was never measured;
- `distorted`: the same draws with `body_ratio` of the synthetic rows scaled by `--distortion`
  (the bodies shrink as a blending augmentation made them), the guard's power on that fault.

Acceptance: the guard's upper interval bound stays near alpha and its rate is at most 10% at 0.1.

    PYTHONPATH=src python benchmarks/bench_synth_guard.py               # default data, 500 seeds, ~1 min
    PYTHONPATH=src python benchmarks/bench_synth_guard.py --seeds 2000 --alpha 0.05
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy.stats import binomtest, ks_2samp  # noqa: E402

from moola.data import synth  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=500, help="independent draws (runs) per rule")
    parser.add_argument("--alpha", type=float, default=0.1, help="the guard's threshold, train.min_ks_pval")
    parser.add_argument("--ratio", type=float, default=0.5, help="synthetic rows per train row, synth_cache.ratio")
    parser.add_argument("--distortion", type=float, default=0.8, help="factor on the synthetic body_ratio")
    return parser.parse_args()


def load_features() -> tuple[np.ndarray, list[str], list[int]]:
    """Labeled features, their names and the train size of every fold of synth_cache.split."""
    from moola.artifacts import split as split_artifact
    from moola.data.registry import DataRegistry
    from moola.params import labeled_version, load_params

    params = load_params()
    registry = DataRegistry()
    labeled = registry.read_windows(labeled_version(params), "labeled")
    split, _path, _sha = registry.read_split((params.get("synth_cache") or {}).get("split", "fwd_chain_v3"), labeled)
    sizes = [int(split_artifact.rows(split, "train", fold).size) for fold in range(split["n_folds"])]
    return np.asarray(labeled.feats, dtype=np.float64), list(labeled.meta["feature_names"]), sizes


def old_rule(real: np.ndarray, synthetic: np.ndarray) -> float:
    """The previous fold p-value: Simes over features of KS against all train rows, every row counted."""
    return synth.simes_combination([ks_2samp(real[:, j], synthetic[:, j]).pvalue for j in range(real.shape[1])])


def one_draw(feats, names, sizes, ratio, distortion, rng) -> tuple[float, float, float]:
    """(guard p, old-rule p, guard p with body_ratio distorted) for one seed's draws over every fold."""
    body = names.index("body_ratio")
    records, distorted, old = [], [], []
    for fold, n_train in enumerate(sizes):
        order = rng.permutation(len(feats))
        train, held_out = order[:n_train], order[n_train:]
        parents = rng.choice(held_out, size=max(1, round(ratio * n_train)))
        pairs = np.stack([parents, np.full(parents.size, -1)], axis=1)  # (m, 2): parent, no mixup partner
        synthetic = feats[parents]
        records.append({"fold": fold, "ks": synth.ks_report(feats[train], train, synthetic, pairs, names)[0]})
        shrunk = synthetic.copy()
        shrunk[:, body] *= distortion
        distorted.append({"fold": fold, "ks": synth.ks_report(feats[train], train, shrunk, pairs, names)[0]})
        old.append(old_rule(feats[train], synthetic))
    return synth.combined_ks_pval(records), min(old), synth.combined_ks_pval(distorted)


def show(label: str, refused: int, runs: int) -> None:
    interval = binomtest(refused, runs).proportion_ci(confidence_level=0.95, method="exact")
    print(f"  {label:<34} {refused:>4}/{runs}  {refused / runs:6.1%}  95% CI [{interval.low:.1%}, {interval.high:.1%}]")


def main() -> None:
    args = parse_args()
    feats, names, sizes = load_features()
    print(
        f"{len(feats)} labeled windows, {len(sizes)} folds with train sizes {sizes}, ratio {args.ratio}, "
        f"alpha {args.alpha}, seeds 0..{args.seeds - 1}"
    )
    draws = np.array(
        [
            one_draw(feats, names, sizes, args.ratio, args.distortion, np.random.default_rng(seed))
            for seed in range(args.seeds)
        ]
    )  # (seeds, 3)
    refused = (draws < args.alpha).sum(axis=0)
    print("share of runs refused (same-distribution generator unless named):")
    show("guard (combined over folds)", int(refused[0]), args.seeds)
    show("old rule (lowest fold p)", int(refused[1]), args.seeds)
    show(f"guard, body_ratio x {args.distortion}", int(refused[2]), args.seeds)


if __name__ == "__main__":
    main()
