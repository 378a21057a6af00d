"""Batches from memory-mapped windows: scaler, gathering, epoch order and shards."""

from __future__ import annotations

import numpy as np
import pytest

from moola.pretrain.distributed import DistributedContext
from moola.pretrain.windows import (
    NonFiniteWindowError,
    WindowBatches,
    epoch_rows,
    fit_channel_scaler,
)


def test_scaler_uses_only_the_given_rows_of_a_memory_map(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    windows = rng.normal(1.0, 0.1, (50, 12, 4)).astype(np.float32)
    windows[:10] += 100.0  # rows that are left out must not move the statistics
    np.save(tmp_path / "X.npy", windows)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    monkeypatch.setattr("moola.data.normalise.STATISTICS_CHUNK_ROWS", 7)  # several chunks
    kept = np.arange(10, 50)
    scaler = fit_channel_scaler(mapped, kept)
    reference = windows[kept].astype(np.float64).reshape(-1, 4)
    np.testing.assert_allclose(scaler.mean, reference.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaler.std, reference.std(axis=0), rtol=1e-9)
    standardised = WindowBatches(mapped, scaler).gather(kept)
    assert standardised.dtype == np.float32
    np.testing.assert_allclose(standardised.reshape(-1, 4).mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(standardised.reshape(-1, 4).std(axis=0), 1.0, atol=1e-4)


def test_scaler_names_the_first_non_finite_row():
    windows = np.ones((6, 4, 4), dtype=np.float32)
    windows[4, 2, 1] = np.nan
    with pytest.raises(NonFiniteWindowError) as caught:
        fit_channel_scaler(windows, np.arange(6))
    assert caught.value.row == 4
    assert fit_channel_scaler(windows, np.arange(4)).std.min() > 0  # constant channels: floored std


def test_gather_returns_rows_in_ascending_order():
    windows = np.arange(5, dtype=np.float32).reshape(5, 1, 1) * np.ones((5, 3, 2), dtype=np.float32)
    batch = WindowBatches(windows).gather(np.array([4, 0, 2]))
    assert batch[:, 0, 0].tolist() == [0.0, 2.0, 4.0]


def test_epoch_rows_are_a_seeded_permutation_with_a_cap():
    rows = np.arange(100, 200)
    first = epoch_rows(rows, seed=1, epoch=0)
    assert sorted(first.tolist()) == rows.tolist()
    assert np.array_equal(first, epoch_rows(rows, seed=1, epoch=0))
    assert not np.array_equal(first, epoch_rows(rows, seed=1, epoch=1))
    capped = epoch_rows(rows, seed=1, epoch=0, max_windows=30)
    assert np.array_equal(capped, first[:30])


def test_shards_are_disjoint_equal_and_cover_all_but_the_uneven_tail():
    rows = np.arange(11)
    shards = [DistributedContext(rank=r, world_size=3).shard(rows) for r in range(3)]
    assert {len(s) for s in shards} == {3}
    together = np.concatenate(shards)
    assert len(np.unique(together)) == 9
    assert np.array_equal(DistributedContext().shard(rows), rows)
