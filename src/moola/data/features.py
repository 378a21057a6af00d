"""The 20 engineered window features, computed from each window's own bars only (no look-ahead).

Inputs are (N, T) arrays of one window per row; every feature is scale-free (unchanged when
all prices of a window are multiplied by a constant), so windows of different symbols compare.
r_t = log(close_t / close_{t-1}) are the T-1 log returns inside the window; "range" is
high - low of a bar. Look-back is the number of bars (counted back from the window's last bar)
a feature reads; "T" means the whole window.

| # | name | look-back | definition |
|---|---|---|---|
| 0 | log_return | T | log(last close / first close) |
| 1 | realized_vol | T | standard deviation of r |
| 2 | atr14_norm | 15 | mean true range of the last 14 bars / last close (true range uses the previous close) |
| 3 | mean_range | T | mean of range / close |
| 4 | body_ratio | T | mean of abs(close - open) / range (0 for a bar with no range) |
| 5 | wick_imbalance | T | mean of (upper wick - lower wick) / range, in [-1, 1] |
| 6 | trend_slope | T | least-squares slope of log close on the bar index (log price per bar) |
| 7 | trend_r2 | T | R^2 of that fit (0 for a flat window) |
| 8 | rsi14 | 15 | RSI of the last 14 close changes, 0..100 (Cutler's simple averages; 50 when flat) |
| 9 | range_position | T | (last close - lowest low) / (highest high - lowest low), 0.5 when flat |
| 10 | max_drawdown | T | largest fall from a running peak of close, as a fraction (>= 0) |
| 11 | max_runup | T | largest rise from a running trough of close, as a fraction (>= 0) |
| 12 | return_skewness | T | skewness of r (0 when r is constant) |
| 13 | return_kurtosis | T | excess kurtosis of r (0 when r is constant) |
| 14 | volume_zscore5 | T | (mean volume of the last 5 bars - window mean) / window std; 0 without volume |
| 15 | return_autocorr1 | T | lag-1 autocorrelation of r (0 when r is constant) |
| 16 | momentum_64 | 64 | log(last close / close 63 bars before it) |
| 17 | vol_ratio16 | 17 | std of the last 16 r / std of all r (1 when r is constant) |
| 18 | up_bar_fraction | T | share of bars with close > open |
| 19 | last_bar_return | 2 | log(last close / previous close) |

The longest fixed look-back (`LONGEST_LOOKBACK`, 64 bars) bounds the window length from below.
"""

from __future__ import annotations

import numpy as np

FEATURE_LOOKBACK: dict[str, int | None] = {
    "log_return": None,
    "realized_vol": None,
    "atr14_norm": 15,
    "mean_range": None,
    "body_ratio": None,
    "wick_imbalance": None,
    "trend_slope": None,
    "trend_r2": None,
    "rsi14": 15,
    "range_position": None,
    "max_drawdown": None,
    "max_runup": None,
    "return_skewness": None,
    "return_kurtosis": None,
    "volume_zscore5": 5,
    "return_autocorr1": None,
    "momentum_64": 64,
    "vol_ratio16": 17,
    "up_bar_fraction": None,
    "last_bar_return": 2,
}
"""Bars each feature reads, counted back from the window's last bar; None = the whole window."""

FEATURE_NAMES: list[str] = list(FEATURE_LOOKBACK)
N_FEATURES = len(FEATURE_NAMES)
LONGEST_LOOKBACK = max(v for v in FEATURE_LOOKBACK.values() if v is not None)
LONGEST_LOOKBACK_FEATURE = max((v, k) for k, v in FEATURE_LOOKBACK.items() if v is not None)[1]

# Return variance below this (std 1e-12 per bar) is rounding noise of a constant-return window.
_FLAT_VARIANCE = 1e-24


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray, fallback: float) -> np.ndarray:
    """numerator / denominator, with `fallback` where the denominator is 0 (flat windows, doji bars)."""
    out = np.full(np.broadcast(numerator, denominator).shape, fallback, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def compute_features(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray | None = None
) -> np.ndarray:
    """Compute the 20 features of `FEATURE_NAMES` for every window.

    Args:
        open_, high, low, close: (N, T) float64 positive prices, one window per row, T >= 64.
        volume: (N, T) float64 or None (then volume_zscore5 is 0).

    Returns:
        (N, 20) float64, finite; column order = FEATURE_NAMES.
    """
    n_windows, window = close.shape
    if window < LONGEST_LOOKBACK:
        raise ValueError(f"windows of {window} bars are shorter than the longest look-back {LONGEST_LOOKBACK}")
    log_close = np.log(close)  # (N, T)
    returns = np.diff(log_close, axis=1)  # (N, T-1)
    features = np.empty((n_windows, N_FEATURES), dtype=np.float64)
    put = {name: i for i, name in enumerate(FEATURE_NAMES)}

    features[:, put["log_return"]] = log_close[:, -1] - log_close[:, 0]
    centred = returns - returns.mean(axis=1, keepdims=True)  # (N, T-1)
    centred_sq = centred * centred  # products, not **: integer powers of arrays are slow in numpy
    variance = np.mean(centred_sq, axis=1)  # (N,) population moments
    std = np.sqrt(variance)
    features[:, put["realized_vol"]] = std

    true_range = np.maximum(high[:, -14:], close[:, -15:-1]) - np.minimum(low[:, -14:], close[:, -15:-1])
    features[:, put["atr14_norm"]] = true_range.mean(axis=1) / close[:, -1]

    bar_range = high - low  # (N, T)
    features[:, put["mean_range"]] = np.mean(bar_range / close, axis=1)
    inverse_range = _safe_divide(np.ones_like(bar_range), bar_range, 0.0)  # 0 for a bar with no range
    body_top = np.maximum(open_, close)
    body_bottom = np.minimum(open_, close)
    features[:, put["body_ratio"]] = np.mean((body_top - body_bottom) * inverse_range, axis=1)
    wick_gap = (high - body_top) - (body_bottom - low)  # upper wick - lower wick
    features[:, put["wick_imbalance"]] = np.mean(wick_gap * inverse_range, axis=1)

    # Least-squares line through log close: slope = cov(x, y) / var(x), R^2 = explained / total.
    bar_index = np.arange(window, dtype=np.float64) - (window - 1) / 2.0  # (T,) centred
    index_ss = float(np.sum(bar_index**2))
    log_close_centred = log_close - log_close.mean(axis=1, keepdims=True)  # (N, T)
    slope = log_close_centred @ bar_index / index_ss  # (N,)
    total_ss = np.sum(log_close_centred * log_close_centred, axis=1)
    features[:, put["trend_slope"]] = slope
    features[:, put["trend_r2"]] = np.clip(_safe_divide(slope**2 * index_ss, total_ss, 0.0), 0.0, 1.0)

    changes = np.diff(close[:, -15:], axis=1)  # (N, 14)
    gains = np.clip(changes, 0.0, None).sum(axis=1)
    losses = np.clip(-changes, 0.0, None).sum(axis=1)
    features[:, put["rsi14"]] = 100.0 * _safe_divide(gains, gains + losses, 0.5)

    lowest = low.min(axis=1)
    highest = high.max(axis=1)
    features[:, put["range_position"]] = _safe_divide(close[:, -1] - lowest, highest - lowest, 0.5)

    running_peak = np.maximum.accumulate(close, axis=1)  # (N, T)
    features[:, put["max_drawdown"]] = np.max(1.0 - close / running_peak, axis=1)
    running_trough = np.minimum.accumulate(close, axis=1)
    features[:, put["max_runup"]] = np.max(close / running_trough - 1.0, axis=1)

    third = np.mean(centred_sq * centred, axis=1)
    fourth = np.mean(centred_sq * centred_sq, axis=1)
    constant = variance <= _FLAT_VARIANCE  # returns equal up to rounding
    features[:, put["return_skewness"]] = np.where(constant, 0.0, _safe_divide(third, variance**1.5, 0.0))
    features[:, put["return_kurtosis"]] = np.where(constant, 0.0, _safe_divide(fourth, variance**2, 3.0) - 3.0)

    if volume is None:
        features[:, put["volume_zscore5"]] = 0.0
    else:
        volume_mean = volume.mean(axis=1)
        volume_std = volume.std(axis=1)
        # A spread that is only rounding noise (constant volume) must not become a large z-score.
        volume_std[volume_std <= 1e-9 * (volume_mean + 1.0)] = 0.0
        volume_gap = volume[:, -5:].mean(axis=1) - volume_mean
        features[:, put["volume_zscore5"]] = _safe_divide(volume_gap, volume_std, 0.0)

    lag_products = np.sum(centred[:, 1:] * centred[:, :-1], axis=1)
    autocorr = _safe_divide(lag_products, np.sum(centred_sq, axis=1), 0.0)
    features[:, put["return_autocorr1"]] = np.where(constant, 0.0, autocorr)

    features[:, put["momentum_64"]] = log_close[:, -1] - log_close[:, -64]
    features[:, put["vol_ratio16"]] = np.where(constant, 1.0, _safe_divide(returns[:, -16:].std(axis=1), std, 1.0))
    features[:, put["up_bar_fraction"]] = np.mean(close > open_, axis=1)
    features[:, put["last_bar_return"]] = returns[:, -1]
    return features


def check_window(window: int, key: str = "build_windows.window") -> None:
    """Refuse a window shorter than the longest feature look-back (one line naming the params key)."""
    from moola.params import require

    require(
        window >= LONGEST_LOOKBACK,
        key,
        f"= {window} is shorter than the longest feature look-back "
        f"({LONGEST_LOOKBACK_FEATURE}: {LONGEST_LOOKBACK} bars): use a window >= {LONGEST_LOOKBACK}",
    )
