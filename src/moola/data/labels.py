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

Labels file (hand labels): CSV with a header, or parquet, one row per labeled window.

* `symbol` (a symbol of build_windows), `end` (timestamp of the window's last bar; naive means
  UTC) and `label` (a class name, or an integer code 0..K-1 in class order) are required;
* `start`: the window's first bar, checked against build_windows.window;
* `span_start`, `span_end`: where the pattern lies, as bar indices 0..T-1 inside the window or
  as timestamps of bars inside it; kept as bar indices, -1 when absent;
* `quality`: grade A (best) .. D; build_windows.min_quality drops rows graded worse;
* `t1`: end of the label's horizon (>= end). A pattern inside the window looks at nothing after
  it, so the default is the window end, and the purge uses it.

Classes are build_windows.classes, or the names in first-seen order when that list is empty (or
0..K-1 when every label is a code, each code used). Every class keeps at least one window after
min_quality. Dates written as text are ISO 8601 (a date first); a word the clock decides (`now`,
`today`, ...) is refused, so two builds of one file never differ. Other columns are ignored.
Every bad row is one line naming the file, the line (CSV, header = line 1; only \n, \r\n and \r
end a line, as for the csv module) or row (parquet, from 0) and the problem.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path

import numpy as np

from moola.errors import MoolaError
from moola.params import QUALITY_GRADES, TRIPLE_BARRIER_CLASSES
from moola.paths import relative_to_root

CLASS_NAMES = TRIPLE_BARRIER_CLASSES  # the triple-barrier labeler's classes, in code order
DOWN, NEUTRAL, UP = 0, 1, 2
LABEL_FILE_COLUMNS = ("symbol", "end", "label")
OPTIONAL_LABEL_COLUMNS = ("start", "span_start", "span_end", "quality", "t1")
NO_SPAN = -1
_SHOWN = 40  # characters of a value echoed in a message
_ISO_DATE = re.compile(r"[+-]?\d{4,}-\d{2}-\d{2}(?:[T ].+)?")  # text a timestamp may be: a date first
_CLOCK_WORDS = re.compile(r"\b(?:now|today|yesterday|tomorrow)\b", re.IGNORECASE)  # read from the clock


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
    labels: np.ndarray  # (m,) int64 class code
    t1: np.ndarray  # (m,) datetime64[ns] UTC end of each label's horizon
    span_start: np.ndarray  # (m,) int64 bar index inside the window, -1 when absent
    span_end: np.ndarray  # (m,) int64
    quality: np.ndarray  # (m,) object grade text, '' when the file has no quality column
    lines: np.ndarray  # (m,) int64 line (CSV) or row (parquet) of each label, for messages


@dataclasses.dataclass(frozen=True)
class LabelsFile:
    """A whole labels file: labels per symbol, the class names, what was dropped."""

    where: str  # the file as shown in messages
    row_word: str  # "line" (CSV) or "row" (parquet)
    by_symbol: dict[str, FileLabels]
    class_names: list[str]
    rows: int  # label rows read
    dropped_quality: dict[str, int]  # grade -> rows dropped by min_quality


def _shown(value) -> str:
    text = str(value)
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def _read_table(file: Path, where: str) -> tuple[list[str], list[list], str, list[int]]:
    """Header, rows of cells, the word for a row and the line (CSV) or row (parquet) of each."""
    if file.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            frame = pq.read_table(file).to_pandas()
        except (pa.ArrowException, OSError, ValueError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise MoolaError(f"labels file {where} cannot be read as parquet ({reason}): re-export it") from None
        header = [str(name).strip().lower() for name in frame.columns]
        rows = [list(values) for values in frame.itertuples(index=False, name=None)]
        return header, rows, "row", list(range(len(rows)))
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise MoolaError(f"labels file {where} is not UTF-8 text: save it as a UTF-8 CSV") from None
    # newline="": only \n, \r\n and \r end a line (str.splitlines() would also split on U+2028,
    # \x0c, ... inside a field and shift every later line number); a record's line is its first.
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines, lines_read = [], [], 0
    try:
        for cells in reader:
            lines.append(lines_read + 1)
            rows.append(cells)
            lines_read = reader.line_num
    except csv.Error as exc:
        raise MoolaError(
            f"labels file {where}, line {reader.line_num}: cannot be read as CSV ({exc}): "
            "fix the line (a field over 128 KB is refused)"
        ) from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise MoolaError(
            f"labels file {where} is empty: it needs a header line symbol,end,label and one row per window"
        )
    header = [cell.strip().lower() for cell in rows[0]]
    body = [[cell.strip() for cell in cells] for cells in rows[1:]]
    return header, body, "line", lines[1:]


def _blank(value) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        pass
    return isinstance(value, str) and not value.strip()


def _timestamp(value, at: str, what: str):
    """A UTC nanosecond pandas Timestamp from text or a datetime value; None when it is no timestamp.

    A date outside the nanosecond range every bar lives in (1677-09-22 .. 2262-04-11) is refused
    here, naming `at` (file and line) and `what` (the column), and so is a date the clock decides.
    Text must be ISO 8601 with the date first: pandas fills a bare time such as '10:00' with
    today's date, so anything else would make two builds of one file differ.
    """
    import pandas as pd

    if isinstance(value, str):
        value = value.strip()
        if _CLOCK_WORDS.search(value):
            raise MoolaError(
                f"{at}: {what} {_shown(value)} is a date relative to the clock, so two builds of this file would "
                "differ: write it as the date itself in ISO form, e.g. 2017-05-02T13:00Z"
            )
        if not _ISO_DATE.fullmatch(value):
            return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if stamp is pd.NaT:
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    try:
        return stamp.as_unit("ns")
    except (ValueError, OverflowError):
        raise MoolaError(
            f"{at}: {what} {_shown(value)} lies outside the timestamps of any bar (1677-09-22 .. 2262-04-11): fix "
            "the date"
        ) from None


def _integer(value) -> int | None:
    """An int from an integer value or integer text, or None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    text = str(value).strip()
    if len(text) < 24 and re.fullmatch(r"-?\d+(\.0*)?", text):
        return int(text.split(".")[0])  # "3.0" is how pandas writes an integer column with blanks
    return None


def _bar_of(raw, stamp) -> int | None:
    """Row of the bar at `stamp` in `raw`, or None when no bar has that timestamp."""
    value = np.datetime64(stamp.tz_localize(None).as_unit("ns"))  # in range: `_timestamp` refused the rest
    row = int(np.searchsorted(raw.timestamps, value))
    return row if row < raw.n_bars and raw.timestamps[row] == value else None


def class_list(raw_labels: list, lines: list[int], classes: list[str], where: str, row_word: str) -> list[str]:
    """The classes of a labels file: build_windows.classes, else first-seen names, else codes 0..K-1."""
    if classes:
        return list(classes)
    names: list[str] = []
    codes: list[int] = []
    for i, value in enumerate(raw_labels):
        code = _integer(value)
        if code is not None:
            codes.append(code)
            if names:
                raise MoolaError(
                    f"labels file {where}, {row_word} {lines[i]}: label {code} is a code but earlier rows use "
                    "names: write names throughout, or list the classes in build_windows.classes"
                )
        else:
            name = str(value).strip()
            if codes:
                raise MoolaError(
                    f"labels file {where}, {row_word} {lines[i]}: label {_shown(name)} is a name but earlier "
                    "rows use codes: write one kind throughout, or list the classes in build_windows.classes"
                )
            if name not in names:
                names.append(name)
    if codes:
        if min(codes) < 0:
            raise MoolaError(f"labels file {where}: label code {min(codes)} is negative: fix it (codes run 0..K-1)")
        unused = sorted(set(range(max(codes) + 1)) - set(codes))
        if unused:  # refused, not renumbered: a code's meaning must not hang on which codes occur
            raise MoolaError(
                f"labels file {where}: label codes run to {max(codes)} but no row has code "
                f"{', '.join(map(str, unused[:5]))}, which would be a class with no window: use codes 0..K-1, or "
                "write class names in the label column and list them in build_windows.classes"
            )
        names = [str(code) for code in range(max(codes) + 1)]
    if len(names) < 2:
        only = names[0] if names else "none"
        raise MoolaError(
            f"labels file {where}, {row_word} {lines[0]}: every row has the class {_shown(only)}; a classifier needs "
            "at least two "
            "classes: label windows of another class, or list the classes in build_windows.classes"
        )
    return names


@dataclasses.dataclass(frozen=True)
class _Row:
    """One row of a labels file: where it is (for messages), its cells and the column positions."""

    at: str  # "labels file <where>, line <n>"
    cells: list
    col: dict[str, int]

    def cell(self, name: str):
        """The value in column `name`, or None when the file has no such column or the cell is blank."""
        return self.cells[self.col[name]] if name in self.col and not _blank(self.cells[self.col[name]]) else None


def _label_code(value, class_names: list[str], at: str) -> int:
    """The class code of a label cell: a class name or a code 0..K-1."""
    code = _integer(value)
    if code is None:
        name = str(value).strip()
        if name not in class_names:
            raise MoolaError(
                f"{at}: unknown class {_shown(name)}: the classes are {', '.join(class_names)} "
                "(build_windows.classes, or the file's labels when that is empty): use one of them or a code "
                f"0..{len(class_names) - 1}"
            )
        return class_names.index(name)
    if not 0 <= code < len(class_names):
        raise MoolaError(
            f"{at}: label code {code} is outside 0..{len(class_names) - 1} for the classes {', '.join(class_names)}: "
            "fix the code"
        )
    return code


def _window_bars(row: _Row, raw, symbol: str, window: int) -> tuple[int, int]:
    """(start bar, end bar) of the window a row names by `end`, checked against its `start`."""
    end_value = row.cells[row.col["end"]]
    end = _timestamp(end_value, row.at, "end")
    if end is None:
        raise MoolaError(
            f"{row.at}: end {_shown(end_value)} is not a timestamp: write it as ISO, e.g. 2005-03-01 or "
            "2017-05-02T13:00Z"
        )
    end_bar = _bar_of(raw, end)
    if end_bar is None:
        raise MoolaError(
            f"{row.at}: no window of {symbol} ends at {_shown(end_value)}: it is not a bar of {symbol}; "
            "use the timestamp of the window's last bar"
        )
    if end_bar < window - 1:
        raise MoolaError(
            f"{row.at}: no window of {symbol} ends at {_shown(end_value)}: only {end_bar + 1} bars up to it, "
            f"a window needs {window}; pick a later end"
        )
    start_bar = end_bar - window + 1
    start_value = row.cell("start")
    if start_value is not None:
        start = _timestamp(start_value, row.at, "start")
        if start is None:
            raise MoolaError(
                f"{row.at}: start {_shown(start_value)} is not a timestamp: write it as ISO or leave it empty"
            )
        if _bar_of(raw, start) != start_bar:
            raise MoolaError(
                f"{row.at}: start {_shown(start_value)} disagrees with the window length: the {window}-bar window "
                f"(build_windows.window) ending at {raw.timestamp_text(end_bar)} starts at "
                f"{raw.timestamp_text(start_bar)}; fix start or the window length"
            )
    return start_bar, end_bar


def _span(row: _Row, raw, symbol: str, window: int, start_bar: int, end_bar: int) -> tuple[int, int]:
    """(span_start, span_end) as bar indices inside the window, (-1, -1) when the row has none."""
    spans = []
    for name in ("span_start", "span_end"):
        value = row.cell(name)
        if value is None:
            spans.append(NO_SPAN)
            continue
        index = _integer(value)
        if index is None:
            stamp = _timestamp(value, row.at, name)
            bar = None if stamp is None else _bar_of(raw, stamp)
            if bar is None:
                raise MoolaError(
                    f"{row.at}: {name} {_shown(value)} is neither a bar index 0..{window - 1} nor the timestamp of a "
                    "bar "
                    f"of {symbol}: fix it or leave it empty"
                )
            index = bar - start_bar
        if not 0 <= index < window:
            raise MoolaError(
                f"{row.at}: {name} {_shown(value)} lies outside the window ({raw.timestamp_text(start_bar)} .. "
                f"{raw.timestamp_text(end_bar)}, bars 0..{window - 1}): mark the span inside the window"
            )
        spans.append(index)
    if (spans[0] == NO_SPAN) != (spans[1] == NO_SPAN):
        raise MoolaError(f"{row.at}: span_start and span_end go together: give both or neither")
    if spans[0] > spans[1]:
        raise MoolaError(
            f"{row.at}: span_start (bar {spans[0]}) is after span_end (bar {spans[1]}): fix the span (swap them)"
        )
    return spans[0], spans[1]


def _grade(row: _Row) -> str:
    """The row's quality grade A..D, '' when the file has no quality column."""
    if "quality" not in row.col:
        return ""
    value = row.cell("quality")
    grade = "" if value is None else str(value).strip().upper()
    if grade not in QUALITY_GRADES:
        raise MoolaError(
            f"{row.at}: unknown quality grade {_shown('' if value is None else value)}: "
            f"use one of {', '.join(QUALITY_GRADES)} (A best)"
        )
    return grade


def _t1(row: _Row, raw, end_bar: int) -> np.datetime64:
    """End of the label's horizon: the row's t1, or the window end when it has none."""
    end = raw.timestamps[end_bar]
    value = row.cell("t1")
    if value is None:
        return end
    stamp = _timestamp(value, row.at, "t1")
    if stamp is None:
        raise MoolaError(f"{row.at}: t1 {_shown(value)} is not a timestamp: write it as ISO or leave it empty")
    t1 = np.datetime64(stamp.tz_localize(None).as_unit("ns"))
    if t1 < end:
        raise MoolaError(
            f"{row.at}: t1 {_shown(value)} is before the window end {raw.timestamp_text(end_bar)}: "
            "t1 ends the label's horizon, so fix it to a time at or after the end or leave it empty"
        )
    return t1


def _file_labels(entries: list[tuple]) -> FileLabels:
    """One symbol's kept rows (end_bar, code, t1, span_start, span_end, grade, line), sorted by end."""
    entries = sorted(entries, key=lambda entry: entry[0])
    return FileLabels(
        end_bars=np.array([e[0] for e in entries], dtype=np.int64),
        labels=np.array([e[1] for e in entries], dtype=np.int64),
        t1=np.array([e[2] for e in entries], dtype="datetime64[ns]"),
        span_start=np.array([e[3] for e in entries], dtype=np.int64),
        span_end=np.array([e[4] for e in entries], dtype=np.int64),
        quality=np.array([e[5] for e in entries], dtype=object),
        lines=np.array([e[6] for e in entries], dtype=np.int64),
    )


def _check_every_class_kept(
    class_names: list[str],
    kept: set[int],
    dropped_lines: dict[int, list[int]],
    min_quality: str,
    where: str,
    row_word: str,
) -> None:
    """Refuse a class left without a window: train would fail on it after every earlier stage ran."""
    for code, name in enumerate(class_names):
        if code in kept:
            continue
        if code in dropped_lines:
            lines = dropped_lines[code]
            raise MoolaError(
                f"labels file {where}, {row_word} {lines[0]}: build_windows.min_quality = {min_quality} drops every "
                "row "
                f"of class {_shown(name)} ({len(lines)} graded worse), leaving it no window: lower min_quality or "
                f"grade more windows of {_shown(name)} {min_quality} or better"
            )
        raise MoolaError(
            f"labels file {where}: class {_shown(name)} of build_windows.classes has no row: label windows of it "
            "or remove it from build_windows.classes"
        )


def _label_rows(file: Path, where: str, min_quality: str) -> tuple[str, dict[str, int], list[tuple[int, list]]]:
    """The word for a row, the column positions and the non-blank (line, cells) rows, each complete."""
    header, body, row_word, body_lines = _read_table(file, where)
    missing = [name for name in LABEL_FILE_COLUMNS if name not in header]
    if missing:
        raise MoolaError(
            f"labels file {where}, {'line 1' if row_word == 'line' else 'columns'}: lacks column(s) "
            f"{', '.join(missing)}: the header must name {', '.join(LABEL_FILE_COLUMNS)}"
        )
    col = {name: header.index(name) for name in LABEL_FILE_COLUMNS + OPTIONAL_LABEL_COLUMNS if name in header}
    if min_quality and "quality" not in col:
        raise MoolaError(
            f"labels file {where} has no quality column but build_windows.min_quality = {min_quality}: "
            "grade the rows (A best .. D) or set min_quality ''"
        )
    rows = [(line, cells) for line, cells in zip(body_lines, body, strict=False) if not all(_blank(c) for c in cells)]
    if not rows:
        raise MoolaError(f"labels file {where} has a header but no label rows: add one row per labeled window")
    for line, cells in rows:
        if len(cells) < len(header):
            raise MoolaError(
                f"labels file {where}, {row_word} {line}: has {len(cells)} fields, the header has {len(header)}: fix "
                "the line"
            )
    for line, cells in rows:
        if _blank(cells[col["label"]]):
            raise MoolaError(f"labels file {where}, {row_word} {line}: label is empty: give every row a class")
    return row_word, col, rows


def read_labels_file(
    path: str | Path, series: dict, window: int, classes: list[str] = (), min_quality: str = ""
) -> LabelsFile:
    """Read a labels file (CSV or parquet; see this module) and match each row to a window.

    Args:
        path: the labels file.
        series: {symbol: RawSeries} of the symbols in use.
        window: bars per window T (a window needs T bars up to its end).
        classes: build_windows.classes; empty = names in first-seen order.
        min_quality: '' or a grade A..D; rows graded worse are dropped (and counted).

    Returns:
        The LabelsFile; a bad row raises a one-line MoolaError naming the file and line.
    """
    file = Path(path)
    where = relative_to_root(file)
    if not file.is_file():
        raise MoolaError(f"labels file {where} not found: check build_windows.labels_file (relative to data/)")
    row_word, col, rows = _label_rows(file, where, min_quality)
    class_names = class_list(
        [cells[col["label"]] for _, cells in rows], [line for line, _ in rows], list(classes), where, row_word
    )
    rank = {grade: k for k, grade in enumerate(QUALITY_GRADES)}
    keep_rank = rank[min_quality] if min_quality else len(QUALITY_GRADES)
    seen: dict[tuple[str, int], int] = {}
    picked: dict[str, list[tuple]] = {}
    dropped: dict[str, int] = {}
    dropped_lines: dict[int, list[int]] = {}  # class code -> lines dropped by min_quality
    for line, cells in rows:
        row = _Row(f"labels file {where}, {row_word} {line}", cells, col)
        symbol = str(cells[col["symbol"]]).strip()
        if symbol not in series:
            raise MoolaError(f"{row.at}: unknown symbol {_shown(symbol)}: use one of the symbols ({', '.join(series)})")
        raw = series[symbol]
        code = _label_code(cells[col["label"]], class_names, row.at)
        start_bar, end_bar = _window_bars(row, raw, symbol, window)
        span = _span(row, raw, symbol, window, start_bar, end_bar)
        grade = _grade(row)
        t1 = _t1(row, raw, end_bar)
        key = (symbol, end_bar)
        if key in seen:
            raise MoolaError(
                f"{row.at}: repeats the window {symbol} ending {raw.timestamp_text(end_bar)} of {row_word} "
                f"{seen[key]}: keep one"
            )
        seen[key] = line
        if grade and rank[grade] > keep_rank:
            dropped[grade] = dropped.get(grade, 0) + 1
            dropped_lines.setdefault(code, []).append(line)
            continue
        picked.setdefault(symbol, []).append((end_bar, code, t1, span[0], span[1], grade, line))
    if not picked:
        raise MoolaError(
            f"labels file {where}: build_windows.min_quality = {min_quality} drops every row: lower it or grade more "
            "windows"
        )
    kept = {entry[1] for entries in picked.values() for entry in entries}
    _check_every_class_kept(class_names, kept, dropped_lines, min_quality, where, row_word)
    by_symbol = {symbol: _file_labels(entries) for symbol, entries in picked.items()}
    return LabelsFile(
        where=where,
        row_word=row_word,
        by_symbol=by_symbol,
        class_names=class_names,
        rows=len(rows),
        dropped_quality=dict(sorted(dropped.items())),
    )
