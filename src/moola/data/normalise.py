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

from typing import Any

import numpy as np

WINDOW_TRANSFORM = "log_distance_to_last_close_in_volatility_units"

STATISTICS_CHUNK_ROWS = 4096  # rows read per chunk when accumulating channel statistics

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


class NonFiniteWindowError(ValueError):
    """A window holds NaN or infinity; `row` is its index in the array."""

    def __init__(self, row: int):
        super().__init__(f"window row {row} holds NaN or infinite values")
        self.row = row


def channel_statistics(
    windows: Any, rows: np.ndarray, min_std: float = 1e-8, per_window: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of every channel over all timestamps of the selected windows.

    Args:
        windows: (N, T, C) array, memory-mapped or not.
        rows: sorted row indices to use (the kept windows).
        min_std: floor on the std so a constant channel does not divide by zero.
        per_window: the windows are OHLC prices; fit on their `volatility_scaled` view.

    Returns:
        (mean, std), float64 (C,) each; sums are accumulated in float64 chunk by chunk, so the
        result does not depend on how the rows are chunked beyond rounding.

    Raises:
        NonFiniteWindowError: a selected window holds NaN or infinity.
        ValueError: `rows` is empty.
    """
    if len(rows) == 0:
        raise ValueError("no rows to fit the scaler on")
    channels = windows.shape[2]
    total = np.zeros(channels)
    total_squares = np.zeros(channels)
    count = 0
    for start in range(0, len(rows), STATISTICS_CHUNK_ROWS):
        chunk_rows = rows[start : start + STATISTICS_CHUNK_ROWS]
        chunk = np.asarray(windows[chunk_rows], dtype=np.float64)  # (n, T, C)
        finite = np.isfinite(chunk).all(axis=(1, 2))
        if not finite.all():
            raise NonFiniteWindowError(int(chunk_rows[int(np.argmin(finite))]))
        if per_window:
            chunk = volatility_scaled(chunk).astype(np.float64)
        total += chunk.sum(axis=(0, 1))
        total_squares += np.square(chunk).sum(axis=(0, 1))
        count += chunk.shape[0] * chunk.shape[1]
    mean = total / count
    variance = np.maximum(total_squares / count - np.square(mean), 0.0)
    return mean, np.maximum(np.sqrt(variance), min_std)
