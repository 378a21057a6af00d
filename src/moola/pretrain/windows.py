"""Batches from a (N, T, C) window array that may be memory-mapped and larger than RAM.

Nothing here reads the whole array at once: statistics are accumulated chunk by chunk and a
batch is gathered by its row indices, so `np.load(..., mmap_mode="r")` corpora work as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from moola.data.normalise import WINDOW_TRANSFORM, NonFiniteWindowError, channel_statistics, volatility_scaled  # noqa: F401


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
    """`moola.data.normalise.channel_statistics` of the kept windows, as a scaler."""
    mean, std = channel_statistics(windows, rows, min_std=min_std, per_window=per_window)
    return ChannelScaler(mean=mean, std=std, per_window=per_window)


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
