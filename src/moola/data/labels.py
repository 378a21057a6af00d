"""Window labels: the triple-barrier method (Lopez de Prado, AFML ch. 3) or a hand-labeled CSV file.

Triple barrier, for a window whose last bar is `e` (close C_e):

* volatility target s_e = EWM standard deviation (span `vol_span`) of the close-to-close simple
  returns up to and including bar e (nothing after the window end is used);
* upper barrier C_e * (1 + k * s_e), lower barrier C_e * (1 - k * s_e), vertical barrier at bar
  e + horizon;
* bars e+1 .. e+horizon are scanned in order; a bar touches the upper barrier when its high is
  >= the barrier, the lower one when its low is <= the barrier. The first touched barrier gives
  the label: 2 (up), 0 (down); no touch up to the vertical barrier gives 1 (neutral);
* tie rule, both barriers touched within one bar: OHLC does not tell the order inside a bar,
  except when the bar opens beyond a barrier (a gap): then that barrier was touched first.
  Otherwise the window is labeled 1 (neutral) rather than guessed;
* t1 is the bar where the first barrier was touched (the tie bar included), else bar e + horizon;
* windows with e + horizon beyond the last bar are not labeled.

Labels file: CSV with a header holding `symbol`, `end`, `label` (other columns are ignored).
`symbol` is a raw file stem, `end` the timestamp of the window's last bar (naive text means UTC),
`label` is down/neutral/up or 0/1/2. t1 = the bar `horizon` bars after `end`, or the last bar
of the file when that lies beyond the data.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from moola.errors import MoolaError
from moola.paths import relative_to_root

CLASS_NAMES = ("down", "neutral", "up")
DOWN, NEUTRAL, UP = 0, 1, 2
LABEL_FILE_COLUMNS = ("symbol", "end", "label")
_LABEL_TEXT = {"down": DOWN, "neutral": NEUTRAL, "up": UP, "0": DOWN, "1": NEUTRAL, "2": UP}


def volatility_target(close: np.ndarray, vol_span: int) -> np.ndarray:
    """EWM standard deviation of close-to-close simple returns, causal.

    Args:
        close: (n,) closes in time order.
        vol_span: EWM span in bars; values before `vol_span` returns exist are NaN.

    Returns:
        (n,) float64; entry i uses closes 0..i only.
    """
    import pandas as pd

    returns = pd.Series(close, dtype="float64").pct_change()
    return returns.ewm(span=vol_span, min_periods=vol_span, adjust=True).std().to_numpy()


def triple_barrier_labels(
    ohlc: np.ndarray, end_bars: np.ndarray, barrier_k: float, horizon: int, vol_span: int
) -> tuple[np.ndarray, np.ndarray]:
    """Label windows ending at `end_bars` with the triple-barrier rule of this module.

    Args:
        ohlc: (n, 4) float64 bars (open, high, low, close) of one series.
        end_bars: (m,) int64 row of each window's last bar; each needs end + horizon <= n - 1
            and at least `vol_span` returns before it.
        barrier_k: barrier distance in units of the volatility target.
        horizon: vertical barrier, bars after the window end.
        vol_span: EWM span of the volatility target.

    Returns:
        labels (m,) int64 in {0 down, 1 neutral, 2 up} and t1_bars (m,) int64, the row of the bar
        that ended the label's horizon.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    end_bars = np.asarray(end_bars, dtype=np.int64)
    if end_bars.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_bars = ohlc.shape[0]
    if int(end_bars.max()) + horizon > n_bars - 1:
        raise ValueError("a window's horizon runs past the data end; such windows are not labeled")
    target = volatility_target(ohlc[:, 3], vol_span)[end_bars]  # (m,)
    if np.isnan(target).any():
        raise ValueError("a window ends before vol_span returns exist; window must exceed vol_span")
    close_end = ohlc[end_bars, 3]
    upper = close_end * (1.0 + barrier_k * target)  # (m,)
    lower = close_end * (1.0 - barrier_k * target)
    # future[j] holds bars j+1 .. j+horizon: (n - horizon, 4, horizon) view, no copy.
    future = sliding_window_view(ohlc[1:], horizon, axis=0)[end_bars]  # (m, 4, horizon)
    touches_up = future[:, 1, :] >= upper[:, None]  # (m, horizon)
    touches_down = future[:, 2, :] <= lower[:, None]
    never = horizon
    first_up = np.where(touches_up.any(axis=1), touches_up.argmax(axis=1), never)  # (m,) step 0..horizon
    first_down = np.where(touches_down.any(axis=1), touches_down.argmax(axis=1), never)

    labels = np.full(end_bars.shape, NEUTRAL, dtype=np.int64)
    step = np.minimum(first_up, first_down)
    labels[first_up < first_down] = UP
    labels[first_down < first_up] = DOWN
    tie = (first_up == first_down) & (first_up < never)
    if tie.any():
        tie_rows = np.flatnonzero(tie)
        tie_open = future[tie_rows, 0, step[tie_rows]]
        labels[tie_rows[tie_open >= upper[tie_rows]]] = UP  # gapped above: upper touched at the open
        labels[tie_rows[tie_open <= lower[tie_rows]]] = DOWN
    # step counts from the bar after the window end; no touch ends at the vertical barrier.
    t1_bars = end_bars + 1 + np.minimum(step, horizon - 1)
    return labels, t1_bars


@dataclasses.dataclass(frozen=True)
class FileLabels:
    """Labels of one symbol read from a labels file, sorted by window end."""

    end_bars: np.ndarray  # (m,) int64 row of each window's last bar
    labels: np.ndarray  # (m,) int64
    t1_bars: np.ndarray  # (m,) int64


def _cut(text: str) -> str:
    """A CSV value as messages show it: its repr, cut to 60 characters."""
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


class _Rows:
    """A csv reader whose unreadable line (a field over csv's size limit) is a one-line error."""

    def __init__(self, reader, where: str):
        self.reader, self.where = reader, where

    @property
    def line_num(self) -> int:
        return self.reader.line_num

    def __iter__(self):
        return self

    def __next__(self) -> list[str]:
        try:
            return next(self.reader)
        except csv.Error as exc:
            raise MoolaError(
                f"labels file {self.where}, line {self.reader.line_num}: cannot be read as CSV ({str(exc)[:80]}): "
                "fix the line (a field holds at most 131072 characters)"
            ) from None


def read_labels_file(path: str | Path, series: dict, window: int, horizon: int) -> dict[str, FileLabels]:
    """Read a hand-labeled CSV (symbol, end, label) and match each row to a window end.

    Args:
        path: the CSV file.
        series: {symbol: RawSeries} of the raw files in use.
        window: bars per window T (a window needs T bars up to its end).
        horizon: bars after the end that t1 covers.

    Returns:
        {symbol: FileLabels} for the symbols the file names; errors name the CSV line.
    """
    import pandas as pd

    file = Path(path)
    where = relative_to_root(file)
    if not file.is_file():
        raise MoolaError(
            f"labels file {where} not found: check build_windows.labels_file (relative to data/)"
        )
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise MoolaError(f"labels file {where} is not UTF-8 text: save it as a UTF-8 CSV") from None
    reader = _Rows(csv.reader(text.splitlines()), where)
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise MoolaError(
            f"labels file {where} is empty: it needs a header line symbol,end,label and one row per window"
        )
    header = [cell.strip().lower() for cell in header]
    missing = [name for name in LABEL_FILE_COLUMNS if name not in header]
    if missing:
        raise MoolaError(
            f"labels file {where}, line 1: header lacks column(s) {', '.join(missing)}: "
            f"the header must name {', '.join(LABEL_FILE_COLUMNS)}"
        )
    col = {name: header.index(name) for name in LABEL_FILE_COLUMNS}
    known = ", ".join(series)
    seen: dict[tuple[str, int], int] = {}
    rows: dict[str, list[tuple[int, int]]] = {}
    for line_values in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in line_values):
            continue
        at = f"labels file {where}, line {line}"
        if len(line_values) < len(header):
            raise MoolaError(f"{at}: has {len(line_values)} fields, the header has {len(header)}: fix the line")
        symbol = line_values[col["symbol"]].strip()
        end_text = line_values[col["end"]].strip()
        label_text = line_values[col["label"]].strip().lower()
        if symbol not in series:
            raise MoolaError(f"{at}: unknown symbol {_cut(symbol)}: use one of the raw file stems ({known})")
        if label_text not in _LABEL_TEXT:
            raise MoolaError(f"{at}: unknown label {_cut(label_text)}: use down, neutral, up or 0, 1, 2")
        try:
            end = pd.Timestamp(end_text)
            if end is not pd.NaT:
                end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
                end_ns = np.datetime64(end.tz_localize(None).as_unit("ns"))
        except (ValueError, TypeError, OverflowError):
            end = pd.NaT
        if end is pd.NaT:
            raise MoolaError(
                f"{at}: end {_cut(end_text)} is not a timestamp between 1677 and 2262: write it as ISO, "
                "e.g. 2005-03-01 or 2017-05-02T13:00Z"
            )
        raw = series[symbol]
        end_bar = int(np.searchsorted(raw.timestamps, end_ns))
        if end_bar >= raw.n_bars or raw.timestamps[end_bar] != end_ns:
            raise MoolaError(
                f"{at}: no window of {symbol} ends at {_cut(end_text)}: it is not a bar of {raw.source}; "
                "use the timestamp of the window's last bar"
            )
        if end_bar < window - 1:
            raise MoolaError(
                f"{at}: no window of {symbol} ends at {_cut(end_text)}: only {end_bar + 1} bars up to it, "
                f"a window needs {window}; pick a later end"
            )
        key = (symbol, end_bar)
        if key in seen:
            raise MoolaError(f"{at}: repeats the window {symbol} ending {end_text[:60]} of line {seen[key]}: keep one")
        seen[key] = line
        rows.setdefault(symbol, []).append((end_bar, _LABEL_TEXT[label_text]))
    if not seen:
        raise MoolaError(f"labels file {where} has a header but no label rows: add one row per labeled window")
    result = {}
    for symbol, pairs in rows.items():
        pairs.sort()
        end_bars = np.array([p[0] for p in pairs], dtype=np.int64)
        last_bar = series[symbol].n_bars - 1
        result[symbol] = FileLabels(
            end_bars=end_bars,
            labels=np.array([p[1] for p in pairs], dtype=np.int64),
            t1_bars=np.minimum(end_bars + horizon, last_bar),
        )
    return result
