"""Cut fixed-length windows per symbol, label them, and build the arrays and table of a version folder.

One path serves every input size: windows are strided views of each raw series
(`sliding_window_view`, no copy), picked and normalised in chunks of `CHUNK_WINDOWS` windows, so
millions of bars cost one pass and memory stays close to the size of the output arrays.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Sequence

import numpy as np

from moola.data.features import FEATURE_NAMES, N_FEATURES, compute_features
from moola.data.labels import CLASS_NAMES, FileLabels, triple_barrier_labels
from moola.data.raw import RawSeries

OHLC_NAMES = ["open", "high", "low", "close"]
OHLC_NORMALISATION = "each window divided by the close of its first bar"
UNLABELED = -1
CHUNK_WINDOWS = 2048  # windows per feature/normalisation chunk: bounds the float64 temporaries
WINDOW_COLUMNS = ["id", "symbol", "start", "end", "t1", "label", "source", "start_bar"]


@dataclasses.dataclass
class WindowSet:
    """The content of one version folder, in memory.

    Attributes:
        kind: "labeled" or "unlabeled".
        ohlc: (N, T, 4) float32, each window divided by the close of its first bar.
        feats: (N, 20) float32, columns FEATURE_NAMES.
        y: (N,) int64 labels, or None for an unlabeled set.
        windows: DataFrame with WINDOW_COLUMNS, row order = array order.
    """

    kind: str
    ohlc: np.ndarray
    feats: np.ndarray
    y: np.ndarray | None
    windows: Any

    @property
    def n(self) -> int:
        return int(self.ohlc.shape[0])

    def class_counts(self) -> dict[str, int]:
        """{class name: windows} for a labeled set; {} for an unlabeled one."""
        if self.y is None:
            return {}
        counts = np.bincount(self.y, minlength=len(CLASS_NAMES))
        return {name: int(count) for name, count in zip(CLASS_NAMES, counts)}

    def arrays(self) -> dict[str, np.ndarray]:
        """{file name: array} of the .npy files of this set, in a fixed order."""
        named = {"X_ohlc.npy": self.ohlc, "X_feats20.npy": self.feats}
        if self.y is not None:
            named["y.npy"] = self.y
        return named


def window_starts(n_bars: int, window: int, stride: int, bars_after: int = 0) -> np.ndarray:
    """Rows of the first bar of every window, one each `stride` bars from row 0.

    Args:
        n_bars: bars in the series.
        window: bars per window T.
        stride: bars between consecutive window starts.
        bars_after: bars needed after the window's last bar (the label horizon).

    Returns:
        (k,) int64 start rows; empty when the series is too short.
    """
    last_start = n_bars - window - bars_after
    return np.arange(0, max(last_start + 1, 0), stride, dtype=np.int64)


def unlabeled_windows(series: Sequence[RawSeries], window: int, stride: int) -> WindowSet:
    """Every window at `stride`, for every series; label -1 and t1 = end."""
    starts = [window_starts(s.n_bars, window, stride) for s in series]
    ends = [s + window - 1 for s in starts]
    return cut_windows(series, starts, window, labels=None, t1_bars=ends)


def triple_barrier_windows(
    series: Sequence[RawSeries], window: int, stride: int, barrier_k: float, horizon: int, vol_span: int
) -> WindowSet:
    """Windows at `stride` whose horizon fits in the data, labeled by the triple-barrier rule.

    See `moola.data.labels` for the rule (barriers, tie rule, t1).
    """
    starts, labels, t1_bars = [], [], []
    for raw in series:
        picked = window_starts(raw.n_bars, window, stride, bars_after=horizon)
        label, t1 = triple_barrier_labels(raw.ohlc, picked + window - 1, barrier_k, horizon, vol_span)
        starts.append(picked)
        labels.append(label)
        t1_bars.append(t1)
    return cut_windows(series, starts, window, labels=labels, t1_bars=t1_bars)


def file_labeled_windows(series: Sequence[RawSeries], window: int, file_labels: dict[str, FileLabels]) -> WindowSet:
    """The windows named in a labels file (see `moola.data.labels.read_labels_file`)."""
    empty = np.zeros(0, dtype=np.int64)
    starts, labels, t1_bars = [], [], []
    for raw in series:
        entry = file_labels.get(raw.symbol)
        starts.append(empty if entry is None else entry.end_bars - window + 1)
        labels.append(empty if entry is None else entry.labels)
        t1_bars.append(empty if entry is None else entry.t1_bars)
    return cut_windows(series, starts, window, labels=labels, t1_bars=t1_bars)


def cut_windows(
    series: Sequence[RawSeries],
    starts: Sequence[np.ndarray],
    window: int,
    labels: Sequence[np.ndarray] | None,
    t1_bars: Sequence[np.ndarray],
) -> WindowSet:
    """Build the arrays and the windows table for the given window starts.

    Args:
        series: the validated raw series, in output order.
        starts: per series, (k,) int64 rows of each window's first bar.
        window: bars per window T.
        labels: per series, (k,) int64 labels; None for an unlabeled set.
        t1_bars: per series, (k,) int64 row of each label's horizon end.

    Returns:
        A WindowSet whose rows follow `series` order, then `starts` order.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    total = int(sum(len(s) for s in starts))
    ohlc_out = np.empty((total, window, 4), dtype=np.float32)
    feats_out = np.empty((total, N_FEATURES), dtype=np.float32)
    offset = 0
    for raw, picked in zip(series, starts):
        if len(picked) == 0:
            continue
        bars = sliding_window_view(raw.ohlc, window, axis=0)  # (n - T + 1, 4, T) view
        volumes = None if raw.volume is None else sliding_window_view(raw.volume, window)  # (n - T + 1, T)
        for begin in range(0, len(picked), CHUNK_WINDOWS):
            chunk = picked[begin : begin + CHUNK_WINDOWS]
            block = bars[chunk]  # (k, 4, T) float64 copy
            first_close = block[:, 3, :1]  # (k, 1)
            rows = slice(offset + begin, offset + begin + len(chunk))
            ohlc_out[rows] = (block / first_close[:, :, None]).transpose(0, 2, 1)  # (k, 4, T) -> (k, T, 4)
            feats_out[rows] = compute_features(
                block[:, 0], block[:, 1], block[:, 2], block[:, 3], None if volumes is None else volumes[chunk]
            )
        offset += len(picked)
    y = None if labels is None else np.concatenate([np.asarray(v, dtype=np.int64) for v in labels])
    table = _windows_table(series, starts, window, labels, t1_bars)
    return WindowSet(kind="unlabeled" if y is None else "labeled", ohlc=ohlc_out, feats=feats_out, y=y, windows=table)


def _iso_ids(timestamps: np.ndarray) -> np.ndarray:
    """ISO-8601 UTC text of each timestamp, to the second (to the nanosecond for sub-second bars)."""
    whole_seconds = not np.any(timestamps.view("int64") % 1_000_000_000)
    return np.datetime_as_string(timestamps, unit="s" if whole_seconds else "ns", timezone="UTC")


def _windows_table(series, starts, window, labels, t1_bars):
    """One row per window: id, symbol, start, end, t1, label, source, start_bar."""
    import pandas as pd

    parts = {name: [] for name in ("symbol", "source", "start_text", "start", "end", "t1", "label", "start_bar")}
    for i, (raw, picked) in enumerate(zip(series, starts)):
        picked = np.asarray(picked, dtype=np.int64)
        parts["symbol"].append(np.full(len(picked), raw.symbol, dtype=object))
        parts["source"].append(np.full(len(picked), raw.source, dtype=object))
        parts["start"].append(raw.timestamps[picked])
        parts["start_text"].append(_iso_ids(raw.timestamps[picked]).astype(object))
        parts["end"].append(raw.timestamps[picked + window - 1])
        parts["t1"].append(raw.timestamps[np.asarray(t1_bars[i], dtype=np.int64)])
        label = np.full(len(picked), UNLABELED, dtype=np.int64) if labels is None else labels[i]
        parts["label"].append(np.asarray(label, dtype=np.int64))
        parts["start_bar"].append(picked)
    joined = {
        name: np.concatenate(chunks) if chunks else np.zeros(0, dtype=object) for name, chunks in parts.items()
    }

    def utc(values: np.ndarray):
        return pd.DatetimeIndex(values.astype("datetime64[ns]")).tz_localize("UTC")

    return pd.DataFrame(
        {
            "id": joined["symbol"] + "@" + joined["start_text"],
            "symbol": joined["symbol"],
            "start": utc(joined["start"]),
            "end": utc(joined["end"]),
            "t1": utc(joined["t1"]),
            "label": joined["label"].astype(np.int64),
            "source": joined["source"],
            "start_bar": joined["start_bar"].astype(np.int64),
        },
        columns=WINDOW_COLUMNS,
    )


def _array_digest(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and C-order bytes, without copying a contiguous array."""
    contiguous = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{contiguous.dtype.str}|{contiguous.shape}|".encode("ascii"))
    digest.update(contiguous.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def _table_digest(table) -> str:
    """sha256 of a windows table's column names, dtypes and values (independent of parquet encoding)."""
    import pandas as pd

    # Columns are tagged by kind (utc-ns, int64, text), not by dtype name, which differs
    # between pandas versions for the same text column.
    digest = hashlib.sha256()
    for name in table.columns:
        column = table[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            values = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
            digest.update(f"{name}|utc-ns|".encode("utf-8"))
            digest.update(np.ascontiguousarray(values.view("int64")).view(np.uint8))
        elif pd.api.types.is_integer_dtype(column.dtype):
            digest.update(f"{name}|int64|".encode("utf-8"))
            digest.update(np.ascontiguousarray(column.to_numpy(dtype="int64")).view(np.uint8))
        else:
            digest.update(f"{name}|text|".encode("utf-8"))
            digest.update("\x1f".join(map(str, column.tolist())).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def window_fingerprint(window_set: WindowSet) -> str:
    """The content fingerprint stored in meta.json: one sha256 over every array and the windows table.

    Two builds with equal arrays and equal windows tables have equal fingerprints, whatever the
    parquet library version; any change of a value, dtype, shape or row order changes it.
    """
    lines = [f"{name}:{_array_digest(array)}" for name, array in window_set.arrays().items()]
    lines.append(f"windows.parquet:{_table_digest(window_set.windows)}")
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def window_meta(window_set: WindowSet, version: str, label_method: str) -> dict[str, Any]:
    """meta.json of a version folder, less `files` (the stage adds the written files' sha256)."""
    return {
        "kind": window_set.kind,
        "version": version,
        "n": window_set.n,
        "T": int(window_set.ohlc.shape[1]),
        "D_ohlc": 4,
        "D_feats": N_FEATURES,
        "ohlc_names": list(OHLC_NAMES),
        "feature_names": list(FEATURE_NAMES),
        "class_names": list(CLASS_NAMES),
        "class_counts": window_set.class_counts(),
        "label_method": label_method if window_set.y is not None else "none",
        "ohlc_normalisation": OHLC_NORMALISATION,
        "fingerprint": window_fingerprint(window_set),
    }
