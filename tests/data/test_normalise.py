"""The volatility-scaled view of OHLC windows: scale-free, look-ahead-free, last close at 0."""

from __future__ import annotations

import numpy as np

from moola.data.normalise import volatility_scaled


def _windows(seed=0, n=3, T=32, vol=0.01):
    rng = np.random.default_rng(seed)
    close = np.exp(np.cumsum(rng.normal(0, vol, size=(n, T)), axis=1))
    return np.stack([close * 1.001, close * 1.004, close * 0.996, close], axis=-1)


def test_last_close_is_zero_and_output_is_finite_float32():
    z = volatility_scaled(_windows())
    assert z.dtype == np.float32 and np.isfinite(z).all()
    np.testing.assert_allclose(z[:, -1, 3], 0.0, atol=1e-6)


def test_invariant_to_price_level_and_volatility_scale():
    base = _windows(vol=0.01)
    # Multiplying log-returns by 10 (a ten times more volatile market) and the level by 1000
    # gives the same picture in volatility units.
    louder = 1000.0 * np.exp(10.0 * np.log(base))
    np.testing.assert_allclose(volatility_scaled(base), volatility_scaled(louder), rtol=1e-4, atol=1e-4)


def test_each_window_uses_only_its_own_bars():
    windows = _windows(n=2)
    changed = windows.copy()
    changed[1] *= np.linspace(1.0, 2.0, windows.shape[1])[:, None]
    np.testing.assert_array_equal(volatility_scaled(windows)[0], volatility_scaled(changed)[0])


def test_flat_window_stays_finite():
    flat = np.ones((1, 16, 4))
    assert np.isfinite(volatility_scaled(flat)).all()
