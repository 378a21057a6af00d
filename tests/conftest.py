"""Shared fixtures: one thread everywhere, and a tiny self-contained moola project."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

# One thread in tests: the machines are shared, and results must not depend on thread count.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MOOLA_THREADS"):
    os.environ[_var] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_ohlc_frame(n_bars: int, seed: int = 0, start: str = "2000-01-03", freq: str = "D", price: float = 100.0):
    """A random-walk OHLC frame that passes every raw check (for tests only)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0002, 0.01, n_bars)
    close = price * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[price], close[:-1]]) * np.exp(rng.normal(0, 0.002, n_bars))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n_bars)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n_bars)))
    volume = rng.integers(1_000, 10_000, n_bars).astype("float64")
    timestamps = pd.date_range(start, periods=n_bars, freq=freq, tz="UTC")
    return pd.DataFrame(
        {"timestamp": timestamps, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )


@pytest.fixture
def tiny_project(tmp_path, monkeypatch):
    """A project folder with the repo's dvc.yaml and params.yaml and two small raw files.

    params are shrunk so every stage runs in seconds: T=64, few windows, short training.
    MOOLA_ROOT points at it and the working directory is inside it.
    """
    import yaml

    root = tmp_path / "project"
    (root / "data" / "raw").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dvc.yaml", root / "dvc.yaml")
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    for i, symbol in enumerate(["AAA_1d", "BBB_1d"]):
        frame = make_ohlc_frame(900, seed=i, start="2001-01-01")
        frame.to_parquet(root / "data" / "raw" / f"{symbol}.parquet", index=False)
    params["build_windows"].update(
        raw_files=["AAA_1d.parquet", "BBB_1d.parquet"], window=64, labeled_stride=20, unlabeled_stride=8, horizon=10
    )
    params["pretrain_ts2vec"].update(epochs=1, batch_size=16, max_windows=64, crop_min=16)
    params["encoder"].update(hidden=8, layers=1)
    params["train"].update(epochs=3, batch_size=16, patience=2)
    params["base"]["threads"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.setenv("MOOLA_ROOT", str(root))
    monkeypatch.chdir(root)
    return root
