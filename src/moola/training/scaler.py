"""Per-channel standardisation fitted on REAL train rows only, carried in every checkpoint.

OHLC windows first go through `moola.data.normalise.volatility_scaled` (a per-window,
look-ahead-free change of units), then through the per-channel statistics fitted here.

Synthetic rows are left out of the fit: they are derived from train rows and would shift the
statistics towards the augmentation's choices; val and test rows never touch it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moola.data.normalise import channel_statistics, volatility_scaled
from moola.errors import MoolaError

# A channel that never varies (a constant feature) is divided by 1 instead of by 0.
_MIN_STD = 1e-8


@dataclass(frozen=True)
class Scaler:
    """Mean and standard deviation per OHLC channel (4,) and per engineered feature (20,)."""

    ohlc_mean: np.ndarray
    ohlc_std: np.ndarray
    feats_mean: np.ndarray
    feats_std: np.ndarray

    def transform(self, ohlc: np.ndarray, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardise a batch: (n, T, 4), (n, 20) -> float32 arrays of the same shapes."""
        ohlc_scaled = (volatility_scaled(ohlc) - self.ohlc_mean) / self.ohlc_std
        feats_scaled = (np.asarray(feats, dtype=np.float32) - self.feats_mean) / self.feats_std
        return ohlc_scaled.astype(np.float32), feats_scaled.astype(np.float32)

    def to_tensors(self) -> dict:
        """The checkpoint's `scaler` entry: float32 tensors, loadable with weights_only=True."""
        import torch

        return {
            "ohlc_mean": torch.from_numpy(self.ohlc_mean.copy()),
            "ohlc_std": torch.from_numpy(self.ohlc_std.copy()),
            "feats_mean": torch.from_numpy(self.feats_mean.copy()),
            "feats_std": torch.from_numpy(self.feats_std.copy()),
        }

    @classmethod
    def from_tensors(cls, entry: dict) -> "Scaler":
        """Rebuild from a checkpoint's `scaler` entry."""
        try:
            return cls(**{name: np.asarray(entry[name], dtype=np.float32) for name in _FIELDS})
        except KeyError as exc:
            raise MoolaError(f"checkpoint scaler lacks {exc.args[0]!r}: retrain the model with `moola train`") from None

    def to_dict(self) -> dict:
        """Plain lists for JSON records."""
        return {name: [float(v) for v in getattr(self, name)] for name in _FIELDS}


_FIELDS = ("ohlc_mean", "ohlc_std", "feats_mean", "feats_std")


def fit_scaler(ohlc: np.ndarray, feats: np.ndarray, is_synthetic: np.ndarray) -> Scaler:
    """Fit the scaler on the real rows of a train part.

    Args:
        ohlc: float (n, T, 4) train windows (real and synthetic).
        feats: float (n, 20) their features.
        is_synthetic: bool (n,); True rows are ignored.

    Returns:
        A Scaler with float32 statistics.
    """
    real = ~np.asarray(is_synthetic, dtype=bool)
    if not real.any():
        raise MoolaError("the train part has no real rows to fit the normalisation on: check the split")
    rows = np.flatnonzero(real)
    ohlc_mean, ohlc_std = channel_statistics(ohlc, rows, min_std=_MIN_STD, per_window=True)  # (4,) each
    feats_mean, feats_std = channel_statistics(np.asarray(feats)[:, None, :], rows, min_std=_MIN_STD)  # (20,) each
    return Scaler(
        ohlc_mean=ohlc_mean.astype(np.float32),
        ohlc_std=ohlc_std.astype(np.float32),
        feats_mean=feats_mean.astype(np.float32),
        feats_std=feats_std.astype(np.float32),
    )
