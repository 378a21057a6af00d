"""Batches from a (N, T, C) window array that may be memory-mapped and larger than RAM.

Nothing here reads the whole array at once: statistics are accumulated chunk by chunk and a
batch is gathered by its row indices, so `np.load(..., mmap_mode="r")` corpora work as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from moola.data.normalise import WINDOW_TRANSFORM, volatility_scaled

STATISTICS_CHUNK_ROWS = 4096  # rows read per chunk when accumulating channel statistics


class NonFiniteWindowError(ValueError):
    """A window holds NaN or infinity; `row` is its index in the array."""

    def __init__(self, row: int):
        super().__init__(f"window row {row} holds NaN or infinite values")
        self.row = row


@dataclass
class ChannelScaler:
    """Per-channel standardisation (x - mean) / std, fitted on the windows that train."""

    mean: np.ndarray  # (C,) float64
    std: np.ndarray  # (C,) float64
    per_window: bool = False  # OHLC windows: apply `volatility_scaled` first, as the classifiers do

    def to_dict(self) -> dict[str, list[float] | str]:
        """Plain lists, so the scaler travels in a weights-only checkpoint and in JSON."""
        return {
            "ohlc_mean": [float(v) for v in self.mean],
            "ohlc_std": [float(v) for v in self.std],
            "window_transform": WINDOW_TRANSFORM if self.per_window else "none",
        }

    def transform(self, batch: np.ndarray) -> np.ndarray:
        """(B, T, C) -> (B, T, C) float32 standardised."""
        if self.per_window:
            batch = volatility_scaled(batch)
        return ((batch - self.mean) / self.std).astype(np.float32)


def fit_channel_scaler(
    windows: Any, rows: np.ndarray, min_std: float = 1e-8, per_window: bool = False
) -> ChannelScaler:
    """Mean and std of every channel over all timestamps of the selected windows.

    Args:
        windows: (N, T, C) array, memory-mapped or not.
        rows: sorted row indices to use (the kept windows).
        min_std: floor on the std so a constant channel does not divide by zero.
        per_window: the windows are OHLC prices; fit on their `volatility_scaled` view.

    Returns:
        The fitted scaler (float64 statistics; sums are accumulated in float64 chunk by chunk,
        so the result does not depend on how the rows are chunked beyond rounding).

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
    return ChannelScaler(mean=mean, std=np.maximum(np.sqrt(variance), min_std), per_window=per_window)


class WindowBatches:
    """Gathers batches of windows by row index from an (N, T, C) array, optionally standardised."""

    def __init__(self, windows: Any, scaler: ChannelScaler | None = None):
        """
        Args:
            windows: (N, T, C) float array; a read-only memory map is fine (it is never copied whole).
            scaler: applied to every gathered batch; None leaves values as they are.
        """
        if getattr(windows, "ndim", None) != 3:
            raise ValueError(f"windows must be a (N, T, C) array, got shape {getattr(windows, 'shape', None)}")
        self.windows = windows
        self.scaler = scaler

    def __len__(self) -> int:
        return int(self.windows.shape[0])

    @property
    def length(self) -> int:
        return int(self.windows.shape[1])

    @property
    def channels(self) -> int:
        return int(self.windows.shape[2])

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """(B,) row indices -> (B, T, C) float32, rows read in ascending order for a memory map."""
        batch = np.asarray(self.windows[np.sort(rows)])
        if self.scaler is not None:
            return self.scaler.transform(batch)
        return batch.astype(np.float32, copy=False)


def epoch_rows(rows: np.ndarray, seed: int, epoch: int, max_windows: int = 0) -> np.ndarray:
    """The rows one epoch visits: a permutation seeded by (seed, epoch), capped at `max_windows`.

    Args:
        rows: the candidate row indices.
        seed: base seed.
        epoch: epoch number (0-based); each epoch gets its own order and, with a cap, its own subset.
        max_windows: keep only the first `max_windows` of the permutation (0 = all).

    Returns:
        Row indices in visiting order.
    """
    order = np.random.default_rng([seed, epoch]).permutation(len(rows))
    if max_windows > 0:
        order = order[:max_windows]
    return np.asarray(rows)[order]
