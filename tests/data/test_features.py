"""The 20 window features: names, finiteness, known values, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pytest

import moola.data.features as features_module
from conftest import make_ohlc_frame
from moola.data.features import FEATURE_LOOKBACK, FEATURE_NAMES, LONGEST_LOOKBACK, compute_features
from moola.data.raw import validate_ohlc_frame
from moola.data.windows import cut_windows, window_starts

T = 64


def _windows(frame, window=T, stride=5):
    """(N, T) open, high, low, close, volume arrays cut from a frame."""
    from numpy.lib.stride_tricks import sliding_window_view

    starts = window_starts(len(frame), window, stride)
    columns = ("open", "high", "low", "close", "volume")
    return [sliding_window_view(frame[c].to_numpy(), window)[starts] for c in columns]


def _column(values, name):
    return values[:, FEATURE_NAMES.index(name)]


def test_twenty_named_and_documented_features():
    assert len(FEATURE_NAMES) == 20 and len(set(FEATURE_NAMES)) == 20
    assert LONGEST_LOOKBACK == 64
    for i, name in enumerate(FEATURE_NAMES):
        assert f"| {i} | {name} |" in features_module.__doc__


def test_features_are_finite_on_random_walks():
    open_, high, low, close, volume = _windows(make_ohlc_frame(600, seed=4))
    values = compute_features(open_, high, low, close, volume)
    assert values.shape == (len(close), 20)
    assert np.isfinite(values).all()


def test_each_row_depends_on_its_own_window_only():
    open_, high, low, close, volume = _windows(make_ohlc_frame(400, seed=5))
    together = compute_features(open_, high, low, close, volume)
    for row in (0, 7, len(close) - 1):
        alone = compute_features(*(a[row : row + 1] for a in (open_, high, low, close, volume)))
        np.testing.assert_allclose(alone[0], together[row], rtol=1e-12, atol=1e-15)


def test_features_do_not_change_when_bars_after_the_window_change():
    frame = make_ohlc_frame(300, seed=6)
    changed = frame.copy()
    cut = 150  # bars from row 150 on are replaced by a different random walk
    other = make_ohlc_frame(300, seed=99, price=float(frame.loc[cut - 1, "close"]))
    for column in ("open", "high", "low", "close", "volume"):
        changed.loc[cut:, column] = other.loc[cut:, column].to_numpy()
    built = []
    for data in (frame, changed):
        series = validate_ohlc_frame(data, "x.parquet", "X_1d", "x.parquet", T)
        starts = window_starts(series.n_bars, T, 1)
        built.append(cut_windows([series], [starts], T, labels=None, t1_bars=[starts + T - 1]))
    before = cut - T + 1  # windows 0 .. cut-T end before row `cut`
    np.testing.assert_array_equal(built[0].feats[:before], built[1].feats[:before])
    np.testing.assert_array_equal(built[0].ohlc[:before], built[1].ohlc[:before])
    assert not np.array_equal(built[0].feats[before], built[1].feats[before])


def test_prices_scale_does_not_change_features():
    open_, high, low, close, volume = _windows(make_ohlc_frame(300, seed=7))
    base = compute_features(open_, high, low, close, volume)
    scaled = compute_features(open_ * 37.0, high * 37.0, low * 37.0, close * 37.0, volume)
    np.testing.assert_allclose(scaled, base, rtol=1e-9, atol=1e-12)


def test_known_values_on_a_steady_climb():
    growth = 0.01
    close = 100.0 * np.exp(growth * np.arange(T))[None, :]  # (1, T)
    open_ = close / np.exp(growth)
    high, low = close * 1.001, open_ * 0.999
    values = compute_features(open_, high, low, close)
    assert _column(values, "log_return")[0] == pytest.approx(growth * (T - 1))
    assert _column(values, "trend_slope")[0] == pytest.approx(growth)
    assert _column(values, "trend_r2")[0] == pytest.approx(1.0)
    assert _column(values, "rsi14")[0] == pytest.approx(100.0)
    assert _column(values, "max_drawdown")[0] == pytest.approx(0.0)
    assert _column(values, "max_runup")[0] == pytest.approx(np.exp(growth * (T - 1)) - 1)
    assert _column(values, "up_bar_fraction")[0] == 1.0
    assert _column(values, "momentum_64")[0] == pytest.approx(growth * 63)
    assert _column(values, "last_bar_return")[0] == pytest.approx(growth)
    assert _column(values, "realized_vol")[0] == pytest.approx(0.0, abs=1e-12)
    assert _column(values, "volume_zscore5")[0] == 0.0  # no volume column


def test_drawdown_of_a_crafted_fall():
    close = np.full((1, T), 100.0)
    close[0, 10:20] = 120.0
    close[0, 20:30] = 90.0  # from the 120 peak to 90: a 25% drawdown
    values = compute_features(close, close, close, close)
    assert _column(values, "max_drawdown")[0] == pytest.approx(0.25)
    assert _column(values, "max_runup")[0] == pytest.approx(0.2)


def test_flat_windows_give_finite_neutral_values():
    flat = np.full((2, T), 50.0)
    values = compute_features(flat, flat, flat, flat, np.full((2, T), 1000.0))
    assert np.isfinite(values).all()
    assert _column(values, "rsi14")[0] == 50.0
    assert _column(values, "range_position")[0] == 0.5
    assert _column(values, "volume_zscore5")[0] == 0.0
    assert _column(values, "vol_ratio16")[0] == 1.0


def test_volume_zscore_sees_a_late_volume_burst():
    open_, high, low, close, volume = _windows(make_ohlc_frame(200, seed=8), stride=50)
    burst = volume.copy()
    burst[:, -5:] *= 10
    assert (_column(compute_features(open_, high, low, close, burst), "volume_zscore5") > 2).all()


def test_windows_shorter_than_the_longest_lookback_are_refused():
    short = np.full((1, LONGEST_LOOKBACK - 1), 1.0)
    with pytest.raises(ValueError, match="longest look-back"):
        compute_features(short, short, short, short)
    assert max(v for v in FEATURE_LOOKBACK.values() if v) == LONGEST_LOOKBACK
