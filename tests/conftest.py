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


def tiny_params(repo_params: dict, **overrides: int) -> dict:
    """The repository's params shrunk for tests: every cost of a tiny project, stated once.

    Sizes: two raw files of 900 daily bars, windows of 64 bars (84 labeled windows), encoders of
    8 hidden units, one thread, 200 evaluation draws. Folds: two (walk-forward). Epochs: one of pretraining,
    three of training. Ablations: none. A project that needs other epochs or batches (kill points between epochs,
    a pod preempted mid-training) passes them as keywords (`pretrain_epochs`, `pretrain_batch_size`,
    `train_epochs`, `train_batch_size`). Any new per-run cost (folds, extra fits) is set here.
    """
    import copy

    costs = {"pretrain_epochs": 1, "pretrain_batch_size": 16, "train_epochs": 3, "train_batch_size": 16}
    unknown = set(overrides) - set(costs)
    assert not unknown, f"tiny_params has no cost named {sorted(unknown)}"
    costs.update(overrides)
    params = copy.deepcopy(repo_params)
    params["build_windows"].update(
        raw_files=["AAA_1d.parquet", "BBB_1d.parquet"], window=64, labeled_stride=20, unlabeled_stride=8, horizon=10
    )
    params["pretrain_ts2vec"].update(
        epochs=costs["pretrain_epochs"], batch_size=costs["pretrain_batch_size"], max_windows=64, crop_min=16
    )
    params["encoder"].update(hidden=8, layers=1)
    # patience as long as the run: a test that counts epochs never sees an early stop
    params["train"].update(
        epochs=costs["train_epochs"], batch_size=costs["train_batch_size"], patience=costs["train_epochs"]
    )
    # 84 overlapping windows: two walk-forward folds keep a val part in each after purge. The tiny
    # project sets its own strategy (its early windows hold few "down" labels); the default purged
    # k-fold is tested on its own (tests/data/test_folds.py) and on the real data.
    params["make_splits"].update(strategy="walk_forward", n_folds=2, train_fraction=0.4, val_fraction=0.3, embargo="1D")
    # 200 of params' 1000 draws: intervals and p-values stay real (p >= 1/201), evaluate takes a third
    params["evaluate"]["n_resamples"] = 200
    # No ablation fits (they triple every training run): the tests of ablations turn them on
    # (tests/training/test_ablation_fits.py).
    params["evaluate"]["ablations"] = []
    params["base"]["threads"] = 1
    return params


def write_tiny_raw_files(raw: Path) -> None:
    """The tiny project's two raw files (900 daily bars each) in the folder `raw`."""
    raw.mkdir(parents=True, exist_ok=True)
    for seed, symbol in enumerate(("AAA_1d", "BBB_1d")):
        make_ohlc_frame(900, seed=seed, start="2001-01-01").to_parquet(raw / f"{symbol}.parquet", index=False)


def _tiny_project_files(parent: Path) -> Path:
    """Write a tiny project under parent/project: repo dvc.yaml, params of `tiny_params`, two raw files."""
    import yaml

    root = parent / "project"
    write_tiny_raw_files(root / "data" / "raw")
    shutil.copy(REPO_ROOT / "dvc.yaml", root / "dvc.yaml")
    params = tiny_params(yaml.safe_load((REPO_ROOT / "params.yaml").read_text()))
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
