"""Shared fixtures: one thread everywhere, and a tiny self-contained moola project."""

from __future__ import annotations

import contextlib
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
    root = _tiny_project_files(tmp_path)
    monkeypatch.setenv("MOOLA_ROOT", str(root))
    monkeypatch.chdir(root)
    return root


# ----- a tiny project whose data stages have run (built once per session, copied per test) -----

_DATA_STAGES = (["build-windows"], ["make-splits"], ["synth-cache"], ["pretrain-ts2vec"])


@contextlib.contextmanager
def inside_project(root: Path):
    """Run a block with MOOLA_ROOT and the working directory set to `root` (for session fixtures)."""
    saved_cwd, saved_root = Path.cwd(), os.environ.get("MOOLA_ROOT")
    os.environ["MOOLA_ROOT"] = str(root)
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(saved_cwd)
        if saved_root is None:
            os.environ.pop("MOOLA_ROOT", None)
        else:
            os.environ["MOOLA_ROOT"] = saved_root


@pytest.fixture(scope="session")
def project_context():
    """`inside_project` for fixtures in sub-folders (a conftest cannot be imported by name)."""
    return inside_project


@pytest.fixture(scope="session")
def _data_stages_template(tmp_path_factory):
    """data/ and artifacts/ of tiny_project after build-windows, make-splits, synth-cache, pretrain-ts2vec."""
    from moola import cli

    project = _tiny_project_files(tmp_path_factory.mktemp("data_stages_template"))
    with inside_project(project):
        for command in _DATA_STAGES:
            assert cli.main(command) == 0, f"moola {command[0]} failed while building the test template"
    return project


def _tiny_project_files(parent: Path) -> Path:
    """Write a tiny project under parent/project: repo dvc.yaml, shrunk params.yaml, two raw files."""
    import yaml

    root = parent / "project"
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
    # 84 overlapping windows: two walk-forward folds keep a val part in each after purge. The
    # tiny project sets its own strategy: its early windows hold few "down" labels, and its
    # unlabeled bars span no time outside the labeled history (which k-fold tests whole).
    params["make_splits"].update(strategy="walk_forward", n_folds=2, train_fraction=0.4, val_fraction=0.3, embargo="1D")
    params["base"]["threads"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


@pytest.fixture
def built_project(tiny_project, _data_stages_template):
    """tiny_project with labeled/unlabeled windows, the split, the synthetic cache and the TS2Vec encoder.

    The data stages run once per session; each test gets its own copy, so it may tamper freely.
    """
    for folder in ("data", "artifacts", "plots", "metrics"):
        source = _data_stages_template / folder
        if source.exists():
            shutil.copytree(source, tiny_project / folder, dirs_exist_ok=True)
    return tiny_project
