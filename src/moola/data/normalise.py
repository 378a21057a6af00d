"""Scale-free view of OHLC windows that every model sees: distance from the last close in volatility units.

A window folder stores prices relative to the window's first close, which removes the price
level but not the volatility: an hourly EURUSD window moves a tenth as much as a daily NASDAQ
window, so a model fed relative prices learns "which market" instead of "which pattern". The
triple-barrier labels are set in units of volatility around the last close, so the models get
the same units:

    z[t, c] = log(price[t, c] / close[T-1]) / sigma,   sigma = std of the window's log returns

computed from the window's own bars only (no look-ahead, no statistic of other windows).
"""

from __future__ import annotations

import numpy as np

WINDOW_TRANSFORM = "log_distance_to_last_close_in_volatility_units"

# A window whose closes never move has no volatility; dividing by this floor keeps it finite.
_MIN_SIGMA = 1e-8


def volatility_scaled(ohlc: np.ndarray) -> np.ndarray:
    """Return the volatility-scaled view of windows of positive prices.

    Args:
        ohlc: float array (N, T, 4) of positive prices, columns open, high, low, close.

    Returns:
        float32 array (N, T, 4); the last bar's close is 0 in every window.
    """
    log_prices = np.log(np.asarray(ohlc, dtype=np.float64))  # (N, T, 4)
    last_close = log_prices[:, -1:, 3:4]  # (N, 1, 1)
    returns = np.diff(log_prices[:, :, 3], axis=1)  # (N, T-1)
    sigma = np.maximum(returns.std(axis=1), _MIN_SIGMA)  # (N,)
    return ((log_prices - last_close) / sigma[:, None, None]).astype(np.float32)
