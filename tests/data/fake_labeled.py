"""Test helper: write small labeled/unlabeled window folders in the layout of docs/ARCHITECTURE.md.

The split, synthetic-cache, registry and catalog tests build their own inputs with it, so they
do not depend on `moola build-windows`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from moola import io
from moola.data.features import FEATURE_NAMES, compute_features

CLASS_NAMES = ["down", "neutral", "up"]


def random_walk_bars(n_bars: int, rng: np.random.Generator) -> np.ndarray:
    """(n_bars, 5) consistent positive open, high, low, close, volume."""
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n_bars)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0.0, 0.002, n_bars))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.004, n_bars)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.004, n_bars)))
    volume = rng.integers(1_000, 10_000, n_bars).astype(np.float64)
    return np.stack([open_, high, low, close, volume], axis=1)


def fake_windows(
    symbols=("AAA_1d", "BBB_1d"),
    per_symbol: int = 15,
    window: int = 64,
    stride: int = 40,
    horizon: int = 10,
    seed: int = 0,
    labeled: bool = True,
):
    """Arrays and windows frame of a fake window set: windows of daily bars per symbol.

    Returns:
        (ohlc (N, T, 4) float32, feats (N, 20) float32, y (N,) int64, windows DataFrame)
    """
    rng = np.random.default_rng(seed)
    ohlc_rows, feat_rows, labels, records = [], [], [], []
    for s, symbol in enumerate(symbols):
        n_bars = (per_symbol - 1) * stride + window + horizon
        bars = random_walk_bars(n_bars, rng)
        times = pd.date_range("2001-01-01", periods=n_bars, freq="D", tz="UTC") + pd.Timedelta(hours=s)
        for k in range(per_symbol):
            first = k * stride
            chunk = bars[first : first + window]  # (T, 5)
            ohlc_rows.append((chunk[:, :4] / chunk[0, 3]).astype(np.float32))
            feat_rows.append(compute_features(*(chunk[None, :, c] for c in range(5)))[0].astype(np.float32))
            label = int(rng.integers(0, 3)) if labeled else -1
            touch = int(rng.integers(1, horizon + 1)) if labeled else 0
            labels.append(label)
            start, end = times[first], times[first + window - 1]
            records.append(
                {
                    "id": f"{symbol}@{start.isoformat()}",
                    "symbol": symbol,
                    "start": start,
                    "end": end,
                    "t1": times[first + window - 1 + touch],
                    "label": label,
                    "source": f"{symbol}.parquet",
                    "start_bar": first,
                }
            )
    frame = pd.DataFrame.from_records(records)
    for column in ("start", "end", "t1"):
        frame[column] = frame[column].astype("datetime64[ns, UTC]")
    return np.stack(ohlc_rows), np.stack(feat_rows), np.asarray(labels, dtype=np.int64), frame


def write_window_folder(data_root: Path, version: str = "v1", kind: str = "labeled", **kwargs) -> Path:
    """Write data/<kind>_windows/<version>/ with meta.json (fingerprint, files) and return it."""
    ohlc, feats, y, frame = fake_windows(labeled=kind == "labeled", **kwargs)
    folder = Path(data_root) / f"{kind}_windows" / version
    folder.mkdir(parents=True, exist_ok=True)
    io.save_npy(folder / "X_ohlc.npy", ohlc)
    io.save_npy(folder / "X_feats20.npy", feats)
    if kind == "labeled":
        io.save_npy(folder / "y.npy", y)
    io.write_parquet(folder / "windows.parquet", frame)
    files = {p.name: io.sha256_file(p) for p in sorted(folder.iterdir())}
    fingerprint = hashlib.sha256("".join(f"{k}:{v};" for k, v in files.items()).encode()).hexdigest()
    meta = {
        "kind": kind,
        "version": version,
        "n": int(ohlc.shape[0]),
        "T": int(ohlc.shape[1]),
        "D_ohlc": 4,
        "D_feats": 20,
        "ohlc_names": ["open", "high", "low", "close"],
        "feature_names": list(FEATURE_NAMES),
        "class_names": CLASS_NAMES,
        "class_counts": {c: int((y == k).sum()) for k, c in enumerate(CLASS_NAMES)} if kind == "labeled" else {},
        "label_method": "triple_barrier" if kind == "labeled" else None,
        "ohlc_normalisation": "divided by the first close",
        "fingerprint": fingerprint,
        "files": files,
    }
    io.write_json(folder / "meta.json", meta)
    io.write_json(
        folder / "manifest.json",
        {
            "creator": "test helper",
            "sources": [{"file": s + ".parquet"} for s in kwargs.get("symbols", ("AAA_1d", "BBB_1d"))],
        },
    )
    return folder


def write_project(root: Path, **kwargs) -> Path:
    """A project folder with params.yaml (repo defaults) and a fake labeled v1; returns data/."""
    import shutil

    import yaml

    repo = Path(__file__).resolve().parents[2]
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "params.yaml", root / "params.yaml")
    shutil.copy(repo / "dvc.yaml", root / "dvc.yaml")
    params = yaml.safe_load((root / "params.yaml").read_text())
    # 30 fake windows: one forward-chaining split (the tests of folds set their own strategy)
    params["make_splits"].update(strategy="forward_chaining", train_fraction=0.6, val_fraction=0.2)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    data = root / "data"
    write_window_folder(data, "v1", "labeled", **kwargs)
    return data


def set_params(root: Path, section: str, **values) -> None:
    """Update keys of one params.yaml section in place."""
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text())
    params.setdefault(section, {}).update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def enter_project(tmp_path: Path, monkeypatch, **kwargs) -> Path:
    """Make a project with a fake labeled v1 under tmp_path, point MOOLA_ROOT at it, cd into it."""
    root = tmp_path / "project"
    write_project(root, **kwargs)
    monkeypatch.setenv("MOOLA_ROOT", str(root))
    monkeypatch.chdir(root)
    return root
