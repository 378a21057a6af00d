"""Tiny unlabeled windows, labeled windows and a split, written in the layout of docs/ARCHITECTURE.md.

Timeline (daily bars from 2001-01-01, day d = bar d):
- unlabeled: symbols AAA and BBB, 600 bars each, a 32-bar window every 8 bars (72 per symbol);
- labeled: AAA windows every 16 bars from bar 0 to 352, t1 = end + 5 bars (23 rows);
- split: train rows 0-8, purged 9-10, val 11-14, purged 15-16, test 17-22, embargo 5D.
The protected span is [start of row 11 - 5D, t1 of row 22 + 5D] = days [171, 393], so an
unlabeled window starting on bar s (covering [s, s + 31]) is left out iff 140 <= s <= 393:
starts 144 ... 392, 32 per symbol, 64 in all; 80 are kept (before and after the span).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

WINDOW = 32
UNLABELED_STRIDE = 8
UNLABELED_BARS = 600
SYMBOLS = ("AAA", "BBB")
FIRST_DAY = "2001-01-01"
LABELED_STRIDE = 16
LABELED_LAST_START = 352
HORIZON = 5
EMBARGO = "5D"
PARTS = {"train": range(0, 9), "purged": [9, 10, 15, 16], "val": range(11, 15), "test": range(17, 23)}
EXPECTED_LEFT_OUT = 64
EXPECTED_KEPT = 80


def relative_ohlc_windows(n_windows: int, length: int, seed: int) -> np.ndarray:
    """Random-walk OHLC windows divided by their first close, (N, T, 4) float32."""
    rng = np.random.default_rng(seed)
    close = np.exp(np.cumsum(rng.normal(0.0, 0.01, (n_windows, length)), axis=1))
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.003, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.003, close.shape)))
    ohlc = np.stack([open_, high, low, close], axis=-1)
    return (ohlc / ohlc[:, :1, 3:4]).astype(np.float32)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_folder(folder: Path, kind: str, windows: pd.DataFrame, ohlc: np.ndarray, labels: np.ndarray | None) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "X_ohlc.npy", ohlc)
    np.save(folder / "X_feats20.npy", np.zeros((len(windows), 20), dtype=np.float32))
    if labels is not None:
        np.save(folder / "y.npy", labels)
    windows.to_parquet(folder / "windows.parquet", index=False)
    files = {path.name: _sha256(path) for path in sorted(folder.iterdir())}
    fingerprint = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    meta = {
        "kind": kind,
        "version": folder.name,
        "n": len(windows),
        "T": ohlc.shape[1],
        "D_ohlc": 4,
        "D_feats": 20,
        "class_names": ["down", "neutral", "up"],
        "fingerprint": fingerprint,
        "files": files,
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return meta


def _window_rows(symbol: str, starts: range, horizon: int, label: int) -> list[dict]:
    day = pd.Timestamp(FIRST_DAY, tz="UTC")
    rows = []
    for start_bar in starts:
        start = day + pd.Timedelta(days=start_bar)
        end = start + pd.Timedelta(days=WINDOW - 1)
        rows.append(
            {
                "id": f"{symbol}@{start.isoformat()}",
                "symbol": symbol,
                "start": start,
                "end": end,
                "t1": end + pd.Timedelta(days=horizon),
                "label": label,
                "source": f"{symbol}_1d.parquet",
                "start_bar": start_bar,
            }
        )
    return rows


def write_unlabeled(data: Path, version: str = "v1", seed: int = 0) -> pd.DataFrame:
    """Unlabeled windows of both symbols; returns the windows.parquet frame."""
    starts = range(0, UNLABELED_BARS - WINDOW + 1, UNLABELED_STRIDE)
    windows = pd.DataFrame([row for symbol in SYMBOLS for row in _window_rows(symbol, starts, 0, -1)])
    _write_folder(
        data / "unlabeled_windows" / version,
        "unlabeled",
        windows,
        relative_ohlc_windows(len(windows), WINDOW, seed),
        None,
    )
    return windows


def write_labeled_and_split(data: Path, name: str = "fwd_chain_v3", version: str = "v1") -> dict:
    """Labeled AAA windows and a valid forward-chaining split; returns the split document."""
    windows = pd.DataFrame(_window_rows("AAA", range(0, LABELED_LAST_START + 1, LABELED_STRIDE), HORIZON, 1))
    n = len(windows)
    meta = _write_folder(
        data / "labeled_windows" / version,
        "labeled",
        windows,
        relative_ohlc_windows(n, WINDOW, 99),
        np.ones(n, dtype=np.int64),
    )
    parts = {part: list(rows) for part, rows in PARTS.items()} | {"unused": []}
    time_ranges = {
        part: {
            "start": windows["start"].iloc[rows].min().isoformat(),
            "end": windows["t1"].iloc[rows].max().isoformat(),
        }
        for part, rows in parts.items()
        if part != "purged"
    }
    split = {
        "name": name,
        "labeled_version": version,
        "labeled_fingerprint": meta["fingerprint"],
        "strategy": "forward_chaining",
        "time_ordered": True,
        "purge": True,
        "embargo": EMBARGO,
        "purge_days": pd.Timedelta(EMBARGO).value / 86_400e9,
        **{f"{part}_indices": rows for part, rows in parts.items()},
        "counts": {part: len(rows) for part, rows in parts.items()},
        "time_ranges": time_ranges,
        "n_folds": 1,
        "created_by": "moola make-splits",
        "timestamp": windows["t1"].max().isoformat(),
    }
    split["folds"] = [{"index": 0, **{k: v for k, v in split.items() if k.endswith("_indices") or k == "counts"}}]
    (data / "splits").mkdir(parents=True, exist_ok=True)
    (data / "splits" / f"{name}.json").write_text(json.dumps(split))
    return split


def write_fold_split(data: Path, name: str, strategy: str, version: str = "v1") -> dict:
    """A several-fold split of the labeled windows made by moola's own split builder; returns it.

    walk_forward: 2 folds (val/test rows 9-10/13-15 and 16-17/20-22); cpcv: 4 groups, one tested per fold.
    """
    from moola.data.splits import build_split

    folder = data / "labeled_windows" / version
    windows = pd.read_parquet(folder / "windows.parquet")
    meta = json.loads((folder / "meta.json").read_text())
    shape = {"walk_forward": {"n_folds": 2}, "cpcv": {"n_groups": 4, "n_test_groups": 1}}[strategy]
    split = build_split(
        name,
        windows,
        np.load(folder / "y.npy"),
        meta,
        strategy,
        0.4 if strategy == "walk_forward" else 0.5,
        0.3 if strategy == "walk_forward" else 0.2,
        True,
        EMBARGO,
        0,
        **shape,
    )
    (data / "splits" / f"{name}.json").write_text(json.dumps(split))
    return split
