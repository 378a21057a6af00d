"""Cut fixed-length windows per symbol, label them, and build the arrays and table of a version folder.

One path serves every input size: windows are strided views of each raw series
(`sliding_window_view`, no copy), picked and normalised in chunks of `CHUNK_WINDOWS` windows. A
`WindowPlan` holds the cheap part (which windows, labels, the windows table); its arrays are
either built in memory (`materialise`) or streamed chunk by chunk (`chunks`) to files, so the
unlabeled arrays of millions of bars never need two copies, or even one, in memory.

Session gaps: with `max_gap` set, a window whose bars (for a triple-barrier label: its bars and
its horizon) straddle a step between consecutive bars longer than `max_gap` is dropped and
counted; a hand-labeled window that straddles one is an error.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Iterator, Sequence

import numpy as np

from moola.artifacts.windows import array_digest, array_hasher, fingerprint, fingerprint_of  # noqa: F401
from moola.data.features import FEATURE_NAMES, N_FEATURES, compute_features
from moola.data.labels import CLASS_NAMES, NO_SPAN, LabelsFile, triple_barrier_labels
from moola.data.raw import RawSeries
from moola.errors import MoolaError

OHLC_NAMES = ["open", "high", "low", "close"]
OHLC_NORMALISATION = "each window divided by the close of its first bar"
UNLABELED = -1
CHUNK_WINDOWS = 2048  # windows per feature/normalisation chunk: bounds the float64 temporaries
WINDOW_COLUMNS = [
    "id",
    "symbol",
    "start",
    "end",
    "t1",
    "label",
    "source",
    "start_bar",
    "span_start",
    "span_end",
    "quality",
]


@dataclasses.dataclass
class WindowSet:
    """The content of one version folder, in memory.

    Attributes:
        kind: "labeled" or "unlabeled".
        ohlc: (N, T, 4) float32, each window divided by the close of its first bar.
        feats: (N, 20) float32, columns FEATURE_NAMES.
        y: (N,) int64 labels, or None for an unlabeled set.
        windows: DataFrame with WINDOW_COLUMNS, row order = array order.
        class_names: the version's class names in code order.
        dropped: {reason: windows left out} (e.g. {"max_gap": 12}).
    """

    kind: str
    ohlc: np.ndarray
    feats: np.ndarray
    y: np.ndarray | None
    windows: Any
    class_names: Sequence[str] = CLASS_NAMES
    dropped: dict = dataclasses.field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.ohlc.shape[0])

    def class_counts(self) -> dict[str, int]:
        """{class name: windows} for a labeled set; {} for an unlabeled one."""
        return _class_counts(self.y, self.class_names)

    def arrays(self) -> dict[str, np.ndarray]:
        """{file name: array} of the .npy files of this set, in a fixed order."""
        named = {"X_ohlc.npy": self.ohlc, "X_feats20.npy": self.feats}
        if self.y is not None:
            named["y.npy"] = self.y
        return named


def _class_counts(y, class_names) -> dict[str, int]:
    if y is None:
        return {}
    counts = np.bincount(y, minlength=len(class_names))
    return {name: int(count) for name, count in zip(class_names, counts, strict=False)}


@dataclasses.dataclass
class WindowPlan:
    """Which windows a version holds, with labels and table, before any array is computed.

    Attributes:
        kind: "labeled" or "unlabeled".
        series: the raw series the windows are cut from.
        starts: per series, (k,) int64 row of each window's first bar.
        window: bars per window T.
        y: (N,) int64 labels, or None.
        windows: the windows table (WINDOW_COLUMNS).
        class_names: the version's class names in code order.
        dropped: {reason: windows left out}.
    """

    kind: str
    series: Sequence[RawSeries]
    starts: list[np.ndarray]
    window: int
    y: np.ndarray | None
    windows: Any
    class_names: Sequence[str]
    dropped: dict

    @property
    def n(self) -> int:
        return int(sum(len(s) for s in self.starts))

    def shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """{file name: (shape, dtype)} of the arrays, in WindowSet.arrays order."""
        named = {
            "X_ohlc.npy": ((self.n, self.window, 4), np.dtype(np.float32)),
            "X_feats20.npy": ((self.n, N_FEATURES), np.dtype(np.float32)),
        }
        if self.y is not None:
            named["y.npy"] = ((self.n,), np.dtype(np.int64))
        return named

    def class_counts(self) -> dict[str, int]:
        return _class_counts(self.y, self.class_names)

    def chunks(self, workers: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ohlc (k, T, 4) float32, feats (k, 20) float32) blocks of consecutive rows, in order.

        Args:
            workers: threads computing blocks ahead (numpy releases the GIL in its loops); the
                blocks and their order are the same for any count.
        """
        from moola.progress import progress

        jobs = progress(self._chunk_jobs(), total=self.n_chunks(), desc=f"{self.kind} windows", unit="block")
        if workers <= 1:
            for job in jobs:
                yield _window_block(*job)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: collections.deque = collections.deque()
            for job in jobs:
                pending.append(pool.submit(_window_block, *job))
                if len(pending) >= 2 * workers:  # bounded look-ahead: memory stays a few blocks
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def n_chunks(self) -> int:
        """How many blocks `chunks` yields."""
        return int(sum(-(-len(picked) // CHUNK_WINDOWS) for picked in self.starts))

    def _chunk_jobs(self):
        from numpy.lib.stride_tricks import sliding_window_view

        for raw, picked in zip(self.series, self.starts, strict=False):
            if len(picked) == 0:
                continue
            bars = sliding_window_view(raw.ohlc, self.window, axis=0)  # (n - T + 1, 4, T) view
            volumes = None if raw.volume is None else sliding_window_view(raw.volume, self.window)  # (n - T + 1, T)
            for begin in range(0, len(picked), CHUNK_WINDOWS):
                yield bars, volumes, picked[begin : begin + CHUNK_WINDOWS]

    def materialise(self) -> WindowSet:
        """Compute every array in memory."""
        ohlc_out = np.empty((self.n, self.window, 4), dtype=np.float32)
        feats_out = np.empty((self.n, N_FEATURES), dtype=np.float32)
        offset = 0
        for ohlc, feats in self.chunks():
            ohlc_out[offset : offset + len(ohlc)] = ohlc
            feats_out[offset : offset + len(ohlc)] = feats
            offset += len(ohlc)
        return WindowSet(
            kind=self.kind,
            ohlc=ohlc_out,
            feats=feats_out,
            y=self.y,
            windows=self.windows,
            class_names=list(self.class_names),
            dropped=dict(self.dropped),
        )


def _window_block(bars: np.ndarray, volumes: np.ndarray | None, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised OHLC and features of the windows starting at `chunk` (rows of `bars`)."""
    block = bars[chunk]  # (k, 4, T) float64 copy
    first_close = block[:, 3, :1]  # (k, 1)
    ohlc = (block / first_close[:, :, None]).transpose(0, 2, 1).astype(np.float32)  # (k, 4, T) -> (k, T, 4)
    feats = compute_features(
        block[:, 0], block[:, 1], block[:, 2], block[:, 3], None if volumes is None else volumes[chunk]
    )
    return ohlc, np.asarray(feats, dtype=np.float32)


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


def straddles_gap(
    timestamps: np.ndarray, first_rows: np.ndarray, last_rows: np.ndarray, max_gap_ns: int | None
) -> np.ndarray:
    """Which row ranges [first, last] hold a step between consecutive bars longer than max_gap.

    Args:
        timestamps: (n,) datetime64[ns] of one series.
        first_rows, last_rows: (k,) int64 row ranges, inclusive.
        max_gap_ns: the longest allowed step in ns; None = no limit.

    Returns:
        (k,) bool.
    """
    if max_gap_ns is None or len(first_rows) == 0:
        return np.zeros(len(first_rows), dtype=bool)
    long_step = np.diff(timestamps.view("int64")) > max_gap_ns  # (n-1,) step from row i to i+1
    passed = np.concatenate([[0], np.cumsum(long_step)])  # (n,) long steps up to row i
    return passed[last_rows] - passed[first_rows] > 0


def unlabeled_windows(
    series: Sequence[RawSeries],
    window: int,
    stride: int,
    max_gap_ns: int | None = None,
    class_names: Sequence[str] = CLASS_NAMES,
) -> WindowPlan:
    """Every window at `stride` that straddles no long gap, for every series; label -1 and t1 = end."""
    starts, dropped = [], 0
    for raw in series:
        picked = window_starts(raw.n_bars, window, stride)
        across = straddles_gap(raw.timestamps, picked, picked + window - 1, max_gap_ns)
        dropped += int(across.sum())
        starts.append(picked[~across])
    ends = [s + window - 1 for s in starts]
    return plan_windows(
        "unlabeled", series, starts, window, None, ends, class_names, dropped={"max_gap": dropped} if max_gap_ns else {}
    )


def triple_barrier_windows(
    series: Sequence[RawSeries],
    window: int,
    stride: int,
    barrier_k: float,
    horizon: int,
    vol_span: int,
    max_gap_ns: int | None = None,
) -> WindowPlan:
    """Windows at `stride` whose horizon fits in the data, labeled by the triple-barrier rule.

    See `moola.data.labels` for the rule (barriers, tie rule, t1). With max_gap, a window whose
    bars or horizon straddle a longer gap is dropped.
    """
    starts, labels, t1_bars, dropped = [], [], [], 0
    for raw in series:
        picked = window_starts(raw.n_bars, window, stride, bars_after=horizon)
        across = straddles_gap(raw.timestamps, picked, picked + window - 1 + horizon, max_gap_ns)
        dropped += int(across.sum())
        picked = picked[~across]
        label, t1 = triple_barrier_labels(raw.ohlc, picked + window - 1, barrier_k, horizon, vol_span)
        starts.append(picked)
        labels.append(label)
        t1_bars.append(t1)
    return plan_windows(
        "labeled",
        series,
        starts,
        window,
        labels,
        t1_bars,
        CLASS_NAMES,
        dropped={"max_gap": dropped} if max_gap_ns else {},
    )


def file_labeled_windows(
    series: Sequence[RawSeries], window: int, labels_file: LabelsFile, max_gap_ns: int | None = None
) -> WindowPlan:
    """The windows named in a labels file (see `moola.data.labels.read_labels_file`).

    A window that straddles a gap longer than max_gap is refused, naming its line and the gap.
    """
    empty = np.zeros(0, dtype=np.int64)
    starts, labels, t1, spans, quality = [], [], [], [], []
    for raw in series:
        entry = labels_file.by_symbol.get(raw.symbol)
        if entry is None:
            starts.append(empty)
            labels.append(empty)
            t1.append(np.zeros(0, dtype="datetime64[ns]"))
            spans.append((empty, empty))
            quality.append(np.zeros(0, dtype=object))
            continue
        picked = entry.end_bars - window + 1
        across = straddles_gap(raw.timestamps, picked, entry.end_bars, max_gap_ns)
        if across.any():
            i = int(np.flatnonzero(across)[0])
            steps = np.diff(raw.timestamps[picked[i] : entry.end_bars[i] + 1].view("int64"))
            gap_row = int(picked[i] + np.argmax(steps))
            length = np.timedelta64(int(steps.max()), "ns").astype("timedelta64[m]")
            raise MoolaError(
                f"labels file {labels_file.where}, {labels_file.row_word} {int(entry.lines[i])}: the window of "
                f"{raw.symbol} ending {raw.timestamp_text(int(entry.end_bars[i]))} straddles a gap of {length} "
                f"between {raw.timestamp_text(gap_row)} and {raw.timestamp_text(gap_row + 1)}, longer than "
                "build_windows.max_gap: remove the label, move its window inside one session, or set a longer max_gap"
            )
        starts.append(picked)
        labels.append(entry.labels)
        t1.append(entry.t1)
        spans.append((entry.span_start, entry.span_end))
        quality.append(entry.quality)
    dropped = {"min_quality": sum(labels_file.dropped_quality.values())} if labels_file.dropped_quality else {}
    return plan_windows(
        "labeled",
        series,
        starts,
        window,
        labels,
        t1,
        labels_file.class_names,
        spans=spans,
        quality=quality,
        dropped=dropped,
    )


def plan_windows(
    kind: str,
    series: Sequence[RawSeries],
    starts: Sequence[np.ndarray],
    window: int,
    labels: Sequence[np.ndarray] | None,
    t1: Sequence[np.ndarray],
    class_names: Sequence[str],
    spans: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    quality: Sequence[np.ndarray] | None = None,
    dropped: dict | None = None,
) -> WindowPlan:
    """The plan (table, labels) of the given windows; arrays come later.

    Args:
        kind: "labeled" or "unlabeled".
        series: the validated raw series, in output order.
        starts: per series, (k,) int64 rows of each window's first bar.
        window: bars per window T.
        labels: per series, (k,) int64 labels; None for an unlabeled set.
        t1: per series, (k,) int64 row of each label's horizon end, or datetime64[ns] timestamps.
        class_names: the version's classes in code order.
        spans: per series, (span_start, span_end) bar indices inside the window (-1 = none).
        quality: per series, (k,) grade text ('' = none).
        dropped: {reason: windows left out}.

    Returns:
        A WindowPlan whose rows follow `series` order, then `starts` order.
    """
    starts = [np.asarray(s, dtype=np.int64) for s in starts]
    y = None if labels is None else np.concatenate([np.asarray(v, dtype=np.int64) for v in labels])
    table = _windows_table(series, starts, window, labels, t1, spans, quality)
    return WindowPlan(kind, series, starts, window, y, table, list(class_names), dict(dropped or {}))


def cut_windows(
    series: Sequence[RawSeries],
    starts: Sequence[np.ndarray],
    window: int,
    labels: Sequence[np.ndarray] | None,
    t1_bars: Sequence[np.ndarray],
    class_names: Sequence[str] = CLASS_NAMES,
) -> WindowSet:
    """Build the arrays and the windows table for the given window starts, in memory.

    Args:
        series: the validated raw series, in output order.
        starts: per series, (k,) int64 rows of each window's first bar.
        window: bars per window T.
        labels: per series, (k,) int64 labels; None for an unlabeled set.
        t1_bars: per series, (k,) int64 row of each label's horizon end.
        class_names: the classes in code order.

    Returns:
        A WindowSet whose rows follow `series` order, then `starts` order.
    """
    kind = "unlabeled" if labels is None else "labeled"
    return plan_windows(kind, series, starts, window, labels, t1_bars, class_names).materialise()


def _iso_ids(timestamps: np.ndarray) -> np.ndarray:
    """ISO-8601 UTC text of each timestamp, to the second (to the nanosecond for sub-second bars)."""
    whole_seconds = not np.any(timestamps.view("int64") % 1_000_000_000)
    return np.datetime_as_string(timestamps, unit="s" if whole_seconds else "ns", timezone="UTC")


def _windows_table(series, starts, window, labels, t1, spans=None, quality=None):
    """One row per window: WINDOW_COLUMNS."""
    import pandas as pd

    names = (
        "symbol",
        "source",
        "start_text",
        "start",
        "end",
        "t1",
        "label",
        "start_bar",
        "span_start",
        "span_end",
        "quality",
    )
    parts = {name: [] for name in names}
    for i, (raw, picked) in enumerate(zip(series, starts, strict=False)):
        k = len(picked)
        parts["symbol"].append(np.full(k, raw.symbol, dtype=object))
        parts["source"].append(raw.sources_of(picked))
        parts["start"].append(raw.timestamps[picked])
        parts["start_text"].append(_iso_ids(raw.timestamps[picked]).astype(object))
        parts["end"].append(raw.timestamps[picked + window - 1])
        horizon_end = np.asarray(t1[i])
        parts["t1"].append(
            horizon_end if horizon_end.dtype.kind == "M" else raw.timestamps[horizon_end.astype(np.int64)]
        )
        label = np.full(k, UNLABELED, dtype=np.int64) if labels is None else labels[i]
        parts["label"].append(np.asarray(label, dtype=np.int64))
        parts["start_bar"].append(picked)
        no_span = np.full(k, NO_SPAN, dtype=np.int64)
        parts["span_start"].append(no_span if spans is None else spans[i][0])
        parts["span_end"].append(no_span if spans is None else spans[i][1])
        parts["quality"].append(np.full(k, "", dtype=object) if quality is None else quality[i])
    joined = {name: np.concatenate(chunks) if chunks else np.zeros(0, dtype=object) for name, chunks in parts.items()}

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
            "span_start": joined["span_start"].astype(np.int64),
            "span_end": joined["span_end"].astype(np.int64),
            "quality": joined["quality"].astype(object),
        },
        columns=WINDOW_COLUMNS,
    )


def window_fingerprint(window_set: WindowSet) -> str:
    """The content fingerprint stored in meta.json (the rule: `moola.artifacts.windows.fingerprint`)."""
    return fingerprint(window_set.arrays(), window_set.windows)


def window_meta(window_set, version: str, label_method: str, fingerprint: str | None = None) -> dict[str, Any]:
    """meta.json of a version folder, less `files` (the stage adds the written files' sha256).

    Args:
        window_set: a WindowSet, or a WindowPlan with `fingerprint` given (arrays streamed to disk).
        version: the version name.
        label_method: "triple_barrier", "file" or "none".
        fingerprint: the content fingerprint; computed from the arrays when None.
    """
    shape = window_set.shapes()["X_ohlc.npy"][0] if isinstance(window_set, WindowPlan) else window_set.ohlc.shape
    return {
        "kind": window_set.kind,
        "version": version,
        "n": window_set.n,
        "T": int(shape[1]),
        "D_ohlc": 4,
        "D_feats": N_FEATURES,
        "ohlc_names": list(OHLC_NAMES),
        "feature_names": list(FEATURE_NAMES),
        "class_names": list(window_set.class_names),
        "class_counts": window_set.class_counts(),
        "label_method": label_method if window_set.y is not None else "none",
        "ohlc_normalisation": OHLC_NORMALISATION,
        "fingerprint": window_fingerprint(window_set) if fingerprint is None else fingerprint,
    }
