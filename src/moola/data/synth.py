"""Synthetic OHLC windows grown from TRAIN rows only, filtered by quality and checked by KS tests.

Every augmentation works on a decomposition of each window that cannot express an impossible
bar, so OHLC consistency (high >= max(open, close), low <= min(open, close), prices > 0) holds
by construction after any of them:

    log close path    c_t = log(close_t)
    open gap          g_t = log(open_t / close_t)                     (any sign)
    upper wick        u_t = log(high_t / max(open_t, close_t)) >= 0
    lower wick        w_t = log(min(open_t, close_t) / low_t) >= 0

A window is rebuilt as close = exp(c - c_0), open = close * exp(g), high = max(open, close) *
exp(u), low = min(open, close) * exp(-w), so it is again divided by its first close.

Methods (family `temporal` uses all four, cycling so each gets the same share of candidates):

- `jitter`: Gaussian noise on the per-bar log returns, std = `jitter_sigma` x the window's own
  per-bar return std.
- `magnitude_warp`: returns, open gaps and wicks are multiplied by a smooth random curve (cubic
  spline through `warp_knots` + 2 knots drawn from N(1, `magnitude_sigma`), floored at 0.05):
  volatility rises and falls smoothly (Um et al., 2017).
- `time_warp`: a smooth random speed curve (spline knots N(1, `time_warp_sigma`), floored at 0.1)
  is integrated into a monotone time map; the close path is resampled along it, with a
  Brownian-bridge point between two closes (variance f (1 - f) x the per-bar return variance at
  fraction f), and each bar takes the shape of its nearest source bar.
- `mixup`: a convex mix of the returns of the parent and a second TRAIN row of
  the same class, weight lambda = max(b, 1 - b) with b ~ Beta(`mixup_alpha`, `mixup_alpha`),
  so the parent dominates (Zhang et al., 2018, applied within a class only).

Features are recomputed with `moola.data.features.compute_features`. Volume is not part of the
window arrays, so features read from volume alone (`volume_zscore5`) are inherited from the
parent: a synthetic window keeps its parent's volume bars.

Quality q: features are standardised with the mean and std of the real train rows; a row's
distance is the Euclidean norm of its standardised feature vector (a diagonal Mahalanobis
distance to the train centroid). A candidate is kept when its distance is at most the q-quantile
of the real train rows' distances. Candidates are drawn in rounds until `ratio` x n_train pass.

Candle anatomy: every method acts on the close path (and, for the magnitude warp, scales a
bar's open gap and wicks by the same factor, so their fractions of the bar's range stay put);
the open, high and low of each synthetic bar are rebuilt from ONE parent bar's own shape: the
time warp takes the nearest source bar's shape instead of interpolating two bars (which averaged
signed open gaps and shrank the bodies), and mixup keeps the parent's bar shapes. So `body_ratio` and
`wick_imbalance` keep their distribution.

The KS guard (`ks_report`, `combined_ks_pval`; the refusal in `moola.lineage.guards`): a
synthetic row is not independent of its parent, so it is never compared with it. Each fold's
train rows, in row order, are dealt alternately into halves A and B; the synthetic rows whose
parent and mixup partner both lie outside B, one per parent (the first), are tested against B
with a two-sample KS test per feature, and likewise against A. A feature's fold p-value is the
Bonferroni pair min(1, 2 min(p_A, p_B)). The cache's `ks_pval` is the Simes combination of all
folds x features p-values, p = min_k m p_(k) / k: a test of "no feature of any fold differs"
valid under positive dependence (Sarkar, 1998; folds share train rows, features are
correlated), so a generator drawing from the real train distribution is refused at most
`train.min_ks_pval` of the time. docs/DATA_LINEAGE.md gives its measured rate
(`benchmarks/bench_synth_guard.py`).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from moola.artifacts import layout
from moola.artifacts.synthetic import window_content_sha256
from moola.errors import MoolaError
from moola.params import require

FAMILIES: dict[str, tuple[str, ...]] = {"temporal": ("jitter", "magnitude_warp", "time_warp", "mixup")}
KS_PVAL_RULE = (
    "per fold and feature, two-sample KS of the synthetic rows (one per parent) against the half of the "
    "fold's train rows (alternate rows) holding none of their parents, both halves, p = min(1, 2 min); "
    "ks_pval = Simes over all folds x features: min over k of m * p_(k) / k"
)
QUALITY_RULE = (
    "keep a candidate when the Euclidean norm of its feature vector, standardised by the real train "
    "rows' mean and std, is at most the quality-quantile of the same distance over the real train rows"
)
MAX_ROUNDS = 20
_MIN_MAGNITUDE = 0.05
_MIN_SPEED = 0.1


@dataclass(frozen=True)
class AugmentationSettings:
    """Every knob of one synthetic cache; stored verbatim in augmentation_config.json."""

    family: str = "temporal"
    quality: float = 0.9  # quantile of real-train distances a candidate must stay within, (0, 1]
    ratio: float = 0.5  # synthetic rows per real train row
    jitter_sigma: float = 0.03  # x per-bar return std
    magnitude_sigma: float = 0.1  # std of the magnitude-warp knots around 1
    time_warp_sigma: float = 0.1  # std of the time-warp speed knots around 1
    mixup_alpha: float = 0.2  # Beta(alpha, alpha)
    warp_knots: int = 4  # interior spline knots of the warp curves
    seed: int = 1337

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SyntheticSet:
    """Generated rows, aligned: (M, T, 4) OHLC, (M, 20) features, (M,) labels, provenance frame."""

    ohlc: np.ndarray
    feats: np.ndarray
    y: np.ndarray
    provenance: pd.DataFrame
    stats: dict[str, Any]


def cache_name(version: str, family: str, quality: Any, ratio: Any) -> str:
    """`<version>_<family>_q<quality>_r<ratio>`, numbers written as in params.yaml (as DVC does)."""
    return layout.synthetic_name(version, family, quality, ratio)


def decompose_bars(ohlc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split windows into log close path, open gap, upper and lower wick (see module docstring).

    Args:
        ohlc: (N, T, 4) positive, consistent OHLC.

    Returns:
        Four (N, T) float64 arrays: log close, open gap, upper wick (>= 0), lower wick (>= 0).
    """
    bars = np.asarray(ohlc, dtype=np.float64)
    open_, high, low, close = bars[..., 0], bars[..., 1], bars[..., 2], bars[..., 3]  # (N, T) each
    log_close = np.log(close)
    open_gap = np.log(open_) - log_close
    upper = np.maximum(np.log(high) - np.log(np.maximum(open_, close)), 0.0)
    lower = np.maximum(np.log(np.minimum(open_, close)) - np.log(low), 0.0)
    return log_close, open_gap, upper, lower


def compose_bars(log_close: np.ndarray, open_gap: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Rebuild (N, T, 4) float32 OHLC divided by the first close; consistent by construction."""
    close = np.exp(log_close - log_close[:, :1])  # (N, T), first close exactly 1
    open_ = close * np.exp(open_gap)
    high = np.maximum(open_, close) * np.exp(np.maximum(upper, 0.0))
    low = np.minimum(open_, close) * np.exp(-np.maximum(lower, 0.0))
    # float32 rounding is monotone, so the orderings above survive the cast.
    return np.stack([open_, high, low, close], axis=-1).astype(np.float32)  # (N, T, 4)


def _smooth_curves(rng: np.random.Generator, n: int, length: int, sigma: float, knots: int) -> np.ndarray:
    """(n, length) cubic-spline curves through knots ~ N(1, sigma) spread evenly over the window."""
    from scipy.interpolate import CubicSpline

    knot_positions = np.linspace(0.0, length - 1.0, knots + 2)
    knot_values = rng.normal(1.0, sigma, size=(n, knots + 2))
    return CubicSpline(knot_positions, knot_values, axis=1)(np.arange(length, dtype=np.float64))


def _path_from_returns(returns: np.ndarray) -> np.ndarray:
    """(N, T-1) log returns -> (N, T) log close path starting at 0."""
    return np.concatenate([np.zeros((returns.shape[0], 1)), np.cumsum(returns, axis=1)], axis=1)


def _resample(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of (N, T) rows at fractional (N, T) positions in [0, T-1]."""
    length = values.shape[1]
    left = np.clip(np.floor(positions).astype(np.int64), 0, length - 2)
    weight = positions - left
    return (
        np.take_along_axis(values, left, axis=1) * (1.0 - weight)
        + np.take_along_axis(values, left + 1, axis=1) * weight
    )


def jitter(parts, rng: np.random.Generator, sigma: float):
    """Gaussian noise on the log returns, scaled by each window's own return std."""
    log_close, open_gap, upper, lower = parts
    returns = np.diff(log_close, axis=1)  # (N, T-1)
    scale = returns.std(axis=1, keepdims=True)  # (N, 1)
    noisy = returns + rng.normal(0.0, 1.0, size=returns.shape) * sigma * scale
    return _path_from_returns(noisy), open_gap, upper, lower


def magnitude_warp(parts, rng: np.random.Generator, sigma: float, knots: int):
    """Scale returns, open gaps and wicks by one smooth positive curve per window."""
    log_close, open_gap, upper, lower = parts
    curve = np.maximum(
        _smooth_curves(rng, log_close.shape[0], log_close.shape[1], sigma, knots), _MIN_MAGNITUDE
    )  # (N, T)
    returns = np.diff(log_close, axis=1) * curve[:, 1:]
    return _path_from_returns(returns), open_gap * curve, upper * curve, lower * curve


def time_warp(parts, rng: np.random.Generator, sigma: float, knots: int):
    """Resample the close path along a smooth monotone time map; each bar keeps its nearest source bar's shape."""
    log_close, open_gap, upper, lower = parts
    n, length = log_close.shape
    speed = np.maximum(_smooth_curves(rng, n, length, sigma, knots), _MIN_SPEED)  # (N, T)
    clock = np.concatenate([np.zeros((n, 1)), np.cumsum(speed[:, 1:], axis=1)], axis=1)  # (N, T) increasing
    positions = clock / clock[:, -1:] * (length - 1)
    nearest = np.rint(positions).astype(np.int64)  # (N, T): whole bars, never a blend of two
    shapes = (np.take_along_axis(values, nearest, axis=1) for values in (open_gap, upper, lower))
    # A straight line between two closes would smooth the path (lower volatility, positive return
    # autocorrelation); a Brownian-bridge point keeps both: variance f (1 - f) x the window's
    # per-bar return variance at fraction f between two bars.
    fraction = positions - np.floor(positions)
    sigma = np.diff(log_close, axis=1).std(axis=1, keepdims=True)  # (N, 1)
    bridge = rng.normal(size=positions.shape) * np.sqrt(fraction * (1.0 - fraction)) * sigma
    return (_resample(log_close, positions) + bridge, *shapes)


def mixup(parts, partner_parts, weights: np.ndarray):
    """Convex mix of the returns, weight * parent + (1 - weight) * partner; the bars keep the parent's shapes."""
    w = weights[:, None]  # (N, 1)
    log_close, open_gap, upper, lower = parts
    returns = w * np.diff(log_close, axis=1) + (1.0 - w) * np.diff(partner_parts[0], axis=1)
    return _path_from_returns(returns), open_gap, upper, lower


def standardised_distance(feats: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(N,) Euclidean norm of `feats` standardised by the mean and std of `reference` rows."""
    mean = reference.mean(axis=0)
    std = reference.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant feature counts only when a row leaves it
    return np.sqrt(np.sum(((feats - mean) / std) ** 2, axis=1))


def ks_report(
    real: np.ndarray,
    real_rows: np.ndarray,
    synthetic: np.ndarray,
    parents: np.ndarray,
    feature_names: list[str],
) -> tuple[dict[str, dict[str, float]], float]:
    """Per-feature KS tests of one fold's synthetic rows against train rows that are not their parents.

    Args:
        real: (n, F) features of the fold's real train rows.
        real_rows: (n,) their rows in the labeled arrays.
        synthetic: (m, F) features of the fold's synthetic rows.
        parents: (m, 2) each synthetic row's parent and mixup partner rows (-1: none).
        feature_names: F names.

    Returns:
        ({feature: {statistic, pvalue}}, Simes p-value of this fold's features); see the module docstring.
    """
    from scipy.stats import ks_2samp

    real_rows = np.asarray(real_rows, dtype=np.int64)
    parents = np.asarray(parents, dtype=np.int64).reshape(len(synthetic), -1)
    half = np.empty(real_rows.size, dtype=np.int64)
    half[np.argsort(real_rows, kind="stable")] = np.arange(real_rows.size) % 2
    pairs = []
    for h in (0, 1):
        eligible = ~np.isin(parents, real_rows[half == h]).any(axis=1)
        _, first = np.unique(np.where(eligible, parents[:, 0], -1), return_index=True)
        rows = np.sort(first[eligible[first]])  # one synthetic row per parent
        if rows.size and (half == h).any():
            pairs.append((real[half == h].astype(np.float64), synthetic[rows].astype(np.float64)))
    report = {}
    for j, name in enumerate(feature_names):
        results = [ks_2samp(ref[:, j], syn[:, j]) for ref, syn in pairs]
        statistic = max((float(r.statistic) for r in results), default=0.0)
        pvalue = min(1.0, len(results) * min(float(r.pvalue) for r in results)) if results else 1.0
        report[name] = {"statistic": round(statistic, 6), "pvalue": round(pvalue, 6)}
    return report, simes_combination([entry["pvalue"] for entry in report.values()])


def combined_ks_pval(fold_records: list[dict[str, Any]]) -> float:
    """The guard's one p-value: Simes over every fold's per-feature p-values (module docstring)."""
    return simes_combination([entry["pvalue"] for record in fold_records for entry in record["ks"].values()])


def simes_rejected(fold_records: list[dict[str, Any]], alpha: float) -> list[tuple[int, str, float]]:
    """(fold, feature, p) that Simes' step-up rejects at `alpha`: the ones that make ks_pval < alpha."""
    tests = sorted(
        (entry["pvalue"], record["fold"], name) for record in fold_records for name, entry in record["ks"].items()
    )
    passing = [k for k, (p, _, _) in enumerate(tests, start=1) if p <= alpha * k / len(tests)]
    return [(fold, name, p) for p, fold, name in tests[: max(passing, default=0)]]


def simes_combination(pvalues: list[float]) -> float:
    """Simes' combined p-value: min over k of m * p_(k) / k (sorted ascending), capped at 1."""
    ordered = np.sort(np.asarray(pvalues, dtype=np.float64))
    if ordered.size == 0:
        return 1.0
    ranks = np.arange(1, ordered.size + 1)
    return round(float(min(1.0, np.min(ordered.size * ordered / ranks))), 6)


def generate_synthetic(
    train_ohlc: np.ndarray,
    train_feats: np.ndarray,
    train_y: np.ndarray,
    train_index: np.ndarray,
    settings: AugmentationSettings,
    feature_names: list[str],
    compute_features: Callable[..., np.ndarray],
) -> SyntheticSet:
    """Grow `ratio` x n_train synthetic windows from the given train rows only.

    Args:
        train_ohlc: (n, T, 4) OHLC of the real train rows (divided by their first close).
        train_feats: (n, 20) their stored features (the quality and KS reference).
        train_y: (n,) their labels; synthetic rows inherit the parent's label.
        train_index: (n,) their rows in the labeled arrays (recorded as parents).
        settings: the augmentation knobs and seed.
        feature_names: names of the feature columns.
        compute_features: `moola.data.features.compute_features`.

    Returns:
        A `SyntheticSet`; raises MoolaError when too few candidates pass the quality filter.
    """
    if settings.family not in FAMILIES:
        raise MoolaError(
            f"params key synth_cache.family = {settings.family!r} is unknown: choose {', '.join(FAMILIES)}"
        )
    methods = FAMILIES[settings.family]
    n_train = train_y.shape[0]
    n_target = int(round(settings.ratio * n_train))
    if n_train == 0 or n_target == 0:
        raise MoolaError(
            f"synthetic cache would be empty ({n_train} train rows x ratio {settings.ratio}): raise synth_cache.ratio"
        )
    rng = np.random.default_rng(settings.seed)
    volume_columns = [j for j, name in enumerate(feature_names) if name.startswith("volume")]
    threshold = float(np.quantile(standardised_distance(train_feats, train_feats), settings.quality))
    parts = decompose_bars(train_ohlc)
    kept: list[dict[str, Any]] = []
    n_examined = 0  # candidates looked at until the last one kept
    for _round in range(MAX_ROUNDS):
        batch = _candidate_batch(parts, train_y, methods, settings, rng)
        feats = compute_features(*(batch["ohlc"][..., k].astype(np.float64) for k in range(4))).astype(np.float32)
        feats[:, volume_columns] = train_feats[batch["parent"]][:, volume_columns]
        # A mixup weight within float32 rounding of 1 gives back the parent's exact bytes: no new
        # window, and a copy of a real window reads as a leak in every fold that holds it out.
        copies = (batch["ohlc"] == train_ohlc[batch["parent"]]).all(axis=(1, 2))
        finite = np.isfinite(feats).all(axis=1) & batch["valid"] & ~copies
        accepted = finite & (standardised_distance(np.where(finite[:, None], feats, 0.0), train_feats) <= threshold)
        for k in range(accepted.size):
            n_examined += 1
            if accepted[k]:
                kept.append({key: value[k] for key, value in batch.items() if key != "valid"} | {"feats": feats[k]})
                if len(kept) == n_target:
                    break
        if len(kept) == n_target:
            break
    else:
        raise MoolaError(
            f"only {len(kept)} of {n_target} synthetic rows passed quality {settings.quality} after "
            f"{n_examined} candidates: lower synth_cache.ratio or raise synth_cache.quality"
        )
    parent_local = np.array([row["parent"] for row in kept], dtype=np.int64)
    partner_local = np.array([row["partner"] for row in kept], dtype=np.int64)
    ohlc = np.stack([row["ohlc"] for row in kept]).astype(np.float32)  # (M, T, 4)
    provenance = pd.DataFrame(
        {
            "row": np.arange(n_target, dtype=np.int64),
            "parent_index": train_index[parent_local].astype(np.int64),
            "method": [str(row["method"]) for row in kept],
            "mix_parent": np.where(partner_local >= 0, train_index[np.maximum(partner_local, 0)], -1).astype(np.int64),
            "mix_weight": np.array([row["weight"] for row in kept], dtype=np.float64),
            "content_sha256": [window_content_sha256(window) for window in ohlc],
        }
    )
    stats = {
        "n_candidates": n_examined,
        "n_rejected": n_examined - n_target,
        "quality_threshold": round(threshold, 6),
        "method_counts": {method: int((provenance["method"] == method).sum()) for method in methods},
        "n_parents": int(np.unique(parent_local).size),
        "volume_features_from_parent": [feature_names[j] for j in volume_columns],
    }
    return SyntheticSet(
        ohlc=ohlc,
        feats=np.stack([row["feats"] for row in kept]).astype(np.float32),
        y=train_y[parent_local].astype(np.int64),
        provenance=provenance,
        stats=stats,
    )


def _candidate_batch(
    parts, train_y: np.ndarray, methods: tuple[str, ...], settings: AugmentationSettings, rng
) -> dict[str, np.ndarray]:
    """One round: every train row x every method once, in a seeded random order."""
    n_train = train_y.shape[0]
    parent = np.repeat(np.arange(n_train), len(methods))
    method_index = np.tile(np.arange(len(methods)), n_train)
    order = rng.permutation(parent.size)
    parent, method_index = parent[order], method_index[order]
    log_close = np.empty((parent.size, parts[0].shape[1]))
    out = [log_close, np.empty_like(log_close), np.empty_like(log_close), np.empty_like(log_close)]
    partner = np.full(parent.size, -1, dtype=np.int64)
    weight = np.ones(parent.size, dtype=np.float64)
    valid = np.ones(parent.size, dtype=bool)
    for m, method in enumerate(methods):
        rows = np.flatnonzero(method_index == m)
        if rows.size == 0:
            continue
        source = tuple(values[parent[rows]] for values in parts)
        if method == "jitter":
            result = jitter(source, rng, settings.jitter_sigma)
        elif method == "magnitude_warp":
            result = magnitude_warp(source, rng, settings.magnitude_sigma, settings.warp_knots)
        elif method == "time_warp":
            result = time_warp(source, rng, settings.time_warp_sigma, settings.warp_knots)
        else:
            partner[rows], valid[rows] = _same_class_partners(parent[rows], train_y, rng)
            draws = rng.beta(settings.mixup_alpha, settings.mixup_alpha, size=rows.size)
            weight[rows] = np.maximum(draws, 1.0 - draws)
            partner_source = tuple(values[np.maximum(partner[rows], 0)] for values in parts)
            result = mixup(source, partner_source, weight[rows])
        for target, values in zip(out, result, strict=False):
            target[rows] = values
    return {
        "ohlc": compose_bars(*out),
        "parent": parent,
        "partner": partner,
        "weight": weight,
        "method": np.asarray(methods, dtype=object)[method_index],
        "valid": valid,
    }


def _same_class_partners(parents: np.ndarray, train_y: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """A different train row of the same class for each parent (-1, invalid when none exists)."""
    partners = np.full(parents.size, -1, dtype=np.int64)
    valid = np.zeros(parents.size, dtype=bool)
    for k, parent in enumerate(parents):
        same = np.flatnonzero((train_y == train_y[parent]) & (np.arange(train_y.size) != parent))
        if same.size:
            partners[k] = same[rng.integers(same.size)]
            valid[k] = True
    return partners, valid


def synthetic_fingerprint(synthetic: SyntheticSet) -> str:
    """sha256 over the arrays and the provenance content (not the parquet bytes)."""
    from moola.io import sha256_array

    digest = hashlib.sha256()
    for array in (synthetic.ohlc, synthetic.feats, synthetic.y):
        digest.update(sha256_array(array).encode("ascii"))
    for column in synthetic.provenance.columns:
        digest.update(column.encode("utf-8") + b"\0")
        digest.update(pd.util.hash_pandas_object(synthetic.provenance[column], index=False).to_numpy().tobytes())
    return digest.hexdigest()


# Real train features recomputed from the stored OHLC must agree with the stored ones: per feature,
# the median over rows of |recomputed - stored| / (1 + |stored|) stays below this. float32 inputs
# move the last digits (up to ~1e-4 on a few ill-conditioned rows, skewness of near-constant
# returns); a median above 1e-3 means features.py changed after the labeled version was built,
# and synthetic features would not be comparable to the real ones.
FEATURE_RECOMPUTE_TOLERANCE = 1e-3


def check_feature_code(train_ohlc, train_feats, feature_names, compute_features, version: str) -> None:
    """Refuse when today's feature code no longer reproduces the labeled version's features."""
    recomputed = compute_features(*(train_ohlc[..., k].astype(np.float64) for k in range(4)))  # (n, 20)
    columns = [j for j, name in enumerate(feature_names) if not name.startswith("volume")]
    stored = train_feats[:, columns].astype(np.float64)
    relative_gap = np.median(np.abs(recomputed[:, columns] - stored) / (1.0 + np.abs(stored)), axis=0)  # (F,)
    worst = int(np.argmax(relative_gap)) if relative_gap.size else 0
    if relative_gap.size and relative_gap[worst] > FEATURE_RECOMPUTE_TOLERANCE:
        raise MoolaError(
            f"labeled_windows/{version}/X_feats20.npy feature {feature_names[columns[worst]]!r} differs from what "
            f"moola.data.features computes now (median relative gap {relative_gap[worst]:.2g}): the feature code "
            "changed since the version was built; build a new labeled version before making a synthetic cache"
        )


def generate_per_fold(
    labeled_ohlc: np.ndarray,
    labeled_feats: np.ndarray,
    labeled_y: np.ndarray,
    fold_train_rows: list[np.ndarray],
    settings: AugmentationSettings,
    feature_names: list[str],
    compute_features: Callable[..., np.ndarray],
) -> tuple[SyntheticSet, list[dict[str, Any]]]:
    """Synthetic rows for every fold from that fold's train rows only, in one set.

    Fold f draws with seed `settings.seed + f`; its rows carry `fold = f` in the provenance,
    so a fold's train part gets only the rows grown from its own train rows.

    Returns:
        (the concatenated set, one record per fold: {fold, n, ks, ks_pval, method_counts}).
    """
    sets, records = [], []
    for fold, rows in enumerate(fold_train_rows):
        fold_settings = AugmentationSettings(**{**asdict(settings), "seed": settings.seed + fold})
        generated = generate_synthetic(
            labeled_ohlc[rows],
            labeled_feats[rows],
            labeled_y[rows],
            rows,
            fold_settings,
            feature_names,
            compute_features,
        )
        ks, ks_pval = ks_report(
            labeled_feats[rows], rows, generated.feats, synthetic_parents(generated.provenance), feature_names
        )
        sets.append(generated)
        records.append(
            {
                "fold": fold,
                "n": int(generated.y.size),
                "n_real_train": int(rows.size),
                "ks": ks,
                "ks_pval": ks_pval,
                "method_counts": generated.stats["method_counts"],
            }
        )
    offsets = np.cumsum([0] + [g.y.size for g in sets])
    provenance = pd.concat(
        [g.provenance.assign(row=g.provenance["row"] + offsets[f], fold=np.int64(f)) for f, g in enumerate(sets)],
        ignore_index=True,
    )
    combined = SyntheticSet(
        ohlc=np.concatenate([g.ohlc for g in sets]),
        feats=np.concatenate([g.feats for g in sets]),
        y=np.concatenate([g.y for g in sets]),
        provenance=provenance,
        stats={
            "n_candidates": int(sum(g.stats["n_candidates"] for g in sets)),
            "n_rejected": int(sum(g.stats["n_rejected"] for g in sets)),
            "method_counts": {
                m: int(sum(g.stats["method_counts"][m] for g in sets)) for m in sets[0].stats["method_counts"]
            },
            "volume_features_from_parent": sets[0].stats["volume_features_from_parent"],
        },
    )
    return combined, records


def synthetic_parents(provenance: pd.DataFrame) -> np.ndarray:
    """(m, 2) each synthetic row's parent and mixup partner rows (-1: none), the KS guard's exclusions."""
    partner = provenance["mix_parent"] if "mix_parent" in provenance.columns else pd.Series(-1, index=provenance.index)
    return np.stack([provenance["parent_index"].to_numpy(dtype=np.int64), partner.to_numpy(dtype=np.int64)], axis=1)


def cache_arrays(synthetic: SyntheticSet) -> dict[str, np.ndarray]:
    """The cache's array files by name."""
    return {layout.X_OHLC: synthetic.ohlc, layout.X_FEATS: synthetic.feats, layout.Y: synthetic.y}


def cache_meta(
    name: str,
    synthetic: SyntheticSet,
    settings: AugmentationSettings,
    labeled_meta: dict[str, Any],
    split: dict[str, Any],
    split_sha256: str,
    fold_records: list[dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cache's meta.json (less `files`) and augmentation_config.json.

    Args:
        name: the cache name.
        synthetic: the generated rows.
        settings: the augmentation settings (with the seed).
        labeled_meta: the labeled version's meta.json.
        split: the split document whose train rows were the parents.
        split_sha256: sha256 of the split file.
        fold_records: the per-fold records of `generate_per_fold` (KS against each fold's train rows).
    """
    from moola.codedeps import code_version

    class_names = list(labeled_meta["class_names"])
    feature_names = list(labeled_meta["feature_names"])
    last = fold_records[-1]
    config = {
        **settings.to_dict(),
        "methods": list(FAMILIES[settings.family]),
        "quality_rule": QUALITY_RULE,
        "max_rounds": MAX_ROUNDS,
        "labeled_version": labeled_meta["version"],
        "split_name": split["name"],
        "parents": "train rows of the split only",
    }
    meta = {
        "name": name,
        "labeled_version": labeled_meta["version"],
        "labeled_fingerprint": labeled_meta["fingerprint"],
        "split_name": split["name"],
        "split_sha256": split_sha256,
        "n": int(synthetic.y.shape[0]),
        "T": int(synthetic.ohlc.shape[1]),
        "n_real_train": int(last["n_real_train"]),
        "family": settings.family,
        "ratio": settings.ratio,
        "quality": settings.quality,
        "class_names": class_names,
        "class_counts": {cls: int((synthetic.y == k).sum()) for k, cls in enumerate(class_names)},
        "feature_names": feature_names,
        **synthetic.stats,
        # the default (last) fold's KS report, and the guard's one p-value over every fold and feature
        "ks": last["ks"],
        "ks_pval": combined_ks_pval(fold_records),
        "ks_pval_rule": KS_PVAL_RULE,
        "n_folds": len(fold_records),
        "folds": fold_records,
        "fingerprint": synthetic_fingerprint(synthetic),
        "code": code_version("synth_cache"),
    }
    return meta, config


@dataclass
class SynthCacheParams:
    """Section `synth_cache:` of params.yaml."""

    split: str = "fwd_chain_v3"  # split whose TRAIN rows are the only parents
    family: str = "temporal"  # augmentation family; names the cache <version>_<family>_q<quality>_r<ratio>
    quality: float = 0.9  # keep candidates within this quantile of real-train feature distances, (0, 1]
    ratio: float = 0.5  # synthetic rows per real train row, (0, 20]
    jitter_sigma: float = 0.03  # temporal jitter, in units of the window's per-bar return std
    magnitude_sigma: float = 0.1  # std of the smooth multiplicative magnitude curve
    time_warp_sigma: float = 0.1  # std of the smooth time-distortion speed curve
    mixup_alpha: float = 0.2  # within-class mixup weight ~ Beta(alpha, alpha)

    def validate(self) -> None:
        require(
            self.family in FAMILIES, "synth_cache.family", f"{self.family!r} is unknown: choose {', '.join(FAMILIES)}"
        )
        require(0 < self.quality <= 1, "synth_cache.quality", f"must lie in (0, 1], got {self.quality}")
        require(0 < self.ratio <= 20, "synth_cache.ratio", f"must lie in (0, 20], got {self.ratio}")
        for key in ("jitter_sigma", "magnitude_sigma", "time_warp_sigma"):
            value = getattr(self, key)
            require(0 <= value <= 1, f"synth_cache.{key}", f"must lie in [0, 1], got {value}")
        require(self.mixup_alpha > 0, "synth_cache.mixup_alpha", f"must be > 0, got {self.mixup_alpha}")

    def augmentation(self, seed: int) -> AugmentationSettings:
        """The generator's settings for this section, drawing from `seed` (params.yaml's base.seed)."""
        return AugmentationSettings(
            family=self.family,
            quality=self.quality,
            ratio=self.ratio,
            jitter_sigma=self.jitter_sigma,
            magnitude_sigma=self.magnitude_sigma,
            time_warp_sigma=self.time_warp_sigma,
            mixup_alpha=self.mixup_alpha,
            seed=seed,
        )
