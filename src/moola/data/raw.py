"""Read and validate raw OHLC parquet files; every broken rule is a one-line error naming file, row and rule.

Rules (checked in this order; the first broken rule is reported with its first offending row):

1. the file exists and is a readable parquet file with at least one row;
2. columns `timestamp`, `open`, `high`, `low`, `close` exist (`volume` is optional, other
   columns are ignored); prices and volume are numeric;
3. `timestamp` is a time-zone-aware datetime column. Any zone is converted exactly to UTC.
   Naive timestamps are refused, because their zone would be a guess: store them with
   ``frame["timestamp"].dt.tz_localize("UTC")`` when they mean UTC. A column mixing zones
   (or mixing naive and aware values) or holding text is refused too;
4. every price is finite and > 0, and `volume` (when present) is finite and >= 0; prices stay
   finite as float32, the dtype of the window arrays (1e308 is refused);
5. `high >= low`, `high >= max(open, close)`, `low <= min(open, close)`;
6. timestamps are unique and strictly increasing (rows are bars in time order);
7. the series holds at least one window of bars.

Several files of one symbol (`build_windows.symbols`, e.g. one per month) are joined in time
order; bars that overlap or repeat across two files are refused, naming both. Rows are counted
from 0 in each file for messages; `start_bar` in windows.parquet counts rows of the joined series.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from moola.errors import MoolaError
from moola.paths import relative_to_root

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("timestamp", "open", "high", "low", "close")
PRICE_COLUMNS = ("open", "high", "low", "close")
OPTIONAL_COLUMNS = ("volume",)
_FIX = "fix or drop these bars in the source file, or remove the file from build_windows.raw_files"


@dataclasses.dataclass(frozen=True)
class RawSeries:
    """One validated raw file: bars in time order, prices as float64, timestamps in UTC.

    Attributes:
        symbol: the file stem (``SPX_1d`` for ``SPX_1d.parquet``).
        source: the file name as listed in build_windows.raw_files.
        timestamps: (n,) datetime64[ns], UTC, strictly increasing.
        ohlc: (n, 4) float64, columns open, high, low, close.
        volume: (n,) float64, or None when the file has no volume column.
        sha256: sha256 of the file's bytes.
        file_names: names of the files joined into this series, in time order (empty: `source` alone).
        file_starts: (len(file_names),) int64 first row of each joined file.
    """

    symbol: str
    source: str
    timestamps: np.ndarray
    ohlc: np.ndarray
    volume: np.ndarray | None
    sha256: str
    file_names: tuple[str, ...] = ()
    file_starts: np.ndarray | None = None

    def sources_of(self, rows: np.ndarray) -> np.ndarray:
        """(k,) object array: the file each row of the series came from."""
        if not self.file_names:
            return np.full(len(rows), self.source, dtype=object)
        names = np.array(self.file_names, dtype=object)
        return names[np.searchsorted(self.file_starts, rows, side="right") - 1]

    @property
    def n_bars(self) -> int:
        return int(self.ohlc.shape[0])

    def timestamp_text(self, row: int) -> str:
        """ISO text (UTC) of the bar at `row`, for messages and manifests."""
        return _iso(self.timestamps[row])


def _num(value) -> str:
    """A number as plain Python text (1.5, nan, -inf), not numpy's repr."""
    return repr(float(value))


def _iso(value: np.datetime64) -> str:
    return str(np.datetime_as_string(np.datetime64(value, "ns"), unit="s", timezone="UTC"))


def read_raw_series(path: str | Path, source: str, min_bars: int) -> RawSeries:
    """Read one raw parquet file and check every rule of this module.

    Args:
        path: the parquet file.
        source: the name it was listed under (for messages and windows.parquet).
        min_bars: bars needed for one window (build_windows.window).

    Returns:
        The validated series; a broken rule raises a one-line MoolaError.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from moola.io import sha256_file

    file = Path(path)
    where = relative_to_root(file)
    if not file.is_file():
        raise MoolaError(
            f"raw file {where} not found: check build_windows.raw_files in params.yaml "
            "(names are relative to data/raw/)"
        )
    if file.stat().st_size == 0:
        raise MoolaError(f"raw file {where} is empty (0 bytes): restore it or re-export it as parquet")
    try:
        table = pq.read_table(file)
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MoolaError(
            f"raw file {where} cannot be read as parquet ({reason}): it is truncated or not parquet; "
            "restore it or re-export it"
        ) from None
    frame = table.to_pandas()
    return validate_ohlc_frame(
        frame, where=where, symbol=file.stem, source=source, min_bars=min_bars, sha256=sha256_file(file)
    )


def validate_ohlc_frame(frame, where: str, symbol: str, source: str, min_bars: int, sha256: str = "") -> RawSeries:
    """Check a raw OHLC DataFrame against every rule of this module.

    Args:
        frame: pandas DataFrame as read from the file.
        where: the file, as shown in messages.
        symbol, source, sha256: copied into the result.
        min_bars: bars needed for one window.

    Returns:
        The validated RawSeries.
    """
    if len(frame) == 0:
        raise MoolaError(f"raw file {where} has no rows: an OHLC file needs at least {min_bars} bars")
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise MoolaError(
            f"raw file {where} lacks column(s) {', '.join(missing)}: the file needs "
            f"{', '.join(REQUIRED_COLUMNS)} (volume optional); found {', '.join(map(str, frame.columns))}"
        )
    timestamps = _utc_timestamps(frame["timestamp"], where)
    has_volume = "volume" in frame.columns
    columns = PRICE_COLUMNS + (OPTIONAL_COLUMNS if has_volume else ())
    values = {name: _numeric_column(frame[name], name, where) for name in columns}
    ohlc = np.stack([values[name] for name in PRICE_COLUMNS], axis=1)  # (n, 4)
    volume = values.get("volume")

    def check(bad: np.ndarray, rule: str, detail) -> None:
        # Report the first offending row with the values that break the rule, and how many more.
        rows = np.flatnonzero(bad)
        if rows.size:
            row = int(rows[0])
            more = f" (and {rows.size - 1} more rows)" if rows.size > 1 else ""
            raise MoolaError(
                f"raw file {where}, row {row} ({_iso(timestamps[row])}): {detail(row)} breaks the rule "
                f"'{rule}'{more}: {_FIX}"
            )

    open_, high, low, close = ohlc.T
    for name in PRICE_COLUMNS:
        column = values[name]
        check(~np.isfinite(column), "prices must be finite", lambda r, n=name, c=column: f"{n} = {_num(c[r])}")
    if volume is not None:
        check(~np.isfinite(volume), "volume must be finite", lambda r: f"volume = {_num(volume[r])}")
    with np.errstate(over="ignore"):
        for name in PRICE_COLUMNS:
            column = values[name]
            check(
                ~np.isfinite(column.astype(np.float32)),
                "prices must be finite as float32 (|price| < 3.4e38)",
                lambda r, n=name, c=column: f"{n} = {_num(c[r])}",
            )
    for name in PRICE_COLUMNS:
        column = values[name]
        check(column <= 0, "prices must be > 0", lambda r, n=name, c=column: f"{n} = {_num(c[r])}")
    if volume is not None:
        check(volume < 0, "volume must be >= 0", lambda r: f"volume = {_num(volume[r])}")
    check(high < low, "high >= low", lambda r: f"high {_num(high[r])} < low {_num(low[r])}")
    check(
        high < np.maximum(open_, close),
        "high >= max(open, close)",
        lambda r: f"high {_num(high[r])} < max(open {_num(open_[r])}, close {_num(close[r])})",
    )
    check(
        low > np.minimum(open_, close),
        "low <= min(open, close)",
        lambda r: f"low {_num(low[r])} > min(open {_num(open_[r])}, close {_num(close[r])})",
    )
    steps = np.diff(timestamps.view("int64"))
    check(
        np.concatenate([[False], steps == 0]),
        "timestamps must be unique",
        lambda r: f"timestamp repeats row {r - 1}",
    )
    check(
        np.concatenate([[False], steps < 0]),
        "timestamps must be strictly increasing",
        lambda r: f"timestamp is earlier than row {r - 1} ({_iso(timestamps[r - 1])})",
    )
    if len(frame) < min_bars:
        raise MoolaError(
            f"raw file {where} has {len(frame)} bars, fewer than one window of {min_bars} "
            "(build_windows.window): add bars, lower the window, or remove the file from build_windows.raw_files"
        )
    return RawSeries(
        symbol=symbol,
        source=source,
        timestamps=timestamps,
        ohlc=np.ascontiguousarray(ohlc),
        volume=None if volume is None else np.ascontiguousarray(volume),
        sha256=sha256,
    )


def _utc_timestamps(column, where: str) -> np.ndarray:
    """Return the timestamp column as datetime64[ns] UTC, or explain which time-zone rule it breaks."""
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        utc = column.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(dtype):
        raise MoolaError(
            f"raw file {where}: column timestamp is naive (no time zone); moola needs time-zone-aware "
            "timestamps: store them as UTC, e.g. frame['timestamp'].dt.tz_localize('UTC') when they mean UTC"
        )
    elif pd.api.types.is_string_dtype(dtype) and dtype != np.dtype(object):
        raise MoolaError(
            f"raw file {where}: column timestamp holds text, not datetimes; store a time-zone-aware "
            "datetime column, e.g. pd.to_datetime(frame['timestamp'], utc=True)"
        )
    elif dtype == np.dtype(object):
        kinds = {type(v).__name__ for v in column if v is not None and v is not pd.NaT}
        zones = {str(getattr(v, "tzinfo", None)) for v in column if isinstance(v, pd.Timestamp)}
        if kinds <= {"Timestamp", "datetime"} and len(zones) > 1:
            raise MoolaError(
                f"raw file {where}: column timestamp mixes time zones ({', '.join(sorted(zones))}); "
                "convert every value to UTC, e.g. pd.to_datetime(frame['timestamp'], utc=True)"
            )
        raise MoolaError(
            f"raw file {where}: column timestamp holds {', '.join(sorted(kinds)) or 'nothing'} values, "
            "not datetimes; store a time-zone-aware datetime column, e.g. pd.to_datetime(..., utc=True)"
        )
    else:
        raise MoolaError(
            f"raw file {where}: column timestamp has type {dtype}, not datetime; store a time-zone-aware "
            "datetime column, e.g. pd.to_datetime(..., utc=True)"
        )
    # pandas may keep a coarser unit (us, ms) whose range exceeds datetime64[ns]: a year-2300 bar
    # would wrap around silently in the cast below.
    outside = ((utc < pd.Timestamp.min) | (utc > pd.Timestamp.max)).to_numpy()
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise MoolaError(
            f"raw file {where}, row {row}: timestamp {utc.iloc[row]} is outside the nanosecond range "
            f"{pd.Timestamp.min.year}..{pd.Timestamp.max.year} breaks the rule 'timestamps fit datetime64[ns]': {_FIX}"
        )
    values = utc.to_numpy(dtype="datetime64[ns]")
    missing = np.flatnonzero(np.isnat(values))
    if missing.size:
        raise MoolaError(
            f"raw file {where}, row {int(missing[0])}: timestamp is missing (NaT) breaks the rule "
            f"'every bar has a timestamp': {_FIX}"
        )
    return values


def _numeric_column(column, name: str, where: str) -> np.ndarray:
    """Return a price or volume column as float64, refusing text and booleans."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column.dtype) or not pd.api.types.is_numeric_dtype(column.dtype):
        raise MoolaError(f"raw file {where}: column {name} has type {column.dtype}, not numbers; store it as float64")
    # Nullable integer/float columns turn their missing values into NaN here, so the finiteness
    # rule reports them with their row.
    return column.to_numpy(dtype="float64", na_value=np.nan)


def resolve_raw_files(raw_dir: Path, raw_files: list[str], symbols: dict[str, list[str]]) -> dict[str, list[str]]:
    """Expand `build_windows.raw_files` (names or globs) and group the files into symbols.

    Args:
        raw_dir: data/raw/.
        raw_files: names or glob patterns under raw_dir; they say which files are read.
        symbols: {symbol: names or globs}; a file no symbol names is its own symbol (its stem).

    Returns:
        {symbol: [file name, ...]} in the order the symbols' first files appear in raw_files.
    """
    import fnmatch

    names: list[str] = []
    for pattern in raw_files:
        if any(ch in pattern for ch in "*?["):
            matched = sorted(str(p.relative_to(raw_dir)) for p in raw_dir.glob(pattern) if p.is_file())
            if not matched:
                raise MoolaError(
                    f"build_windows.raw_files: pattern {pattern!r} matches no file under "
                    f"{relative_to_root(raw_dir)}: fix the pattern or add the files"
                )
        else:
            matched = [pattern]
        names.extend(name for name in matched if name not in names)
    owner: dict[str, str] = {}
    for symbol, patterns in symbols.items():
        for pattern in patterns:
            hits = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
            if not hits:
                raise MoolaError(
                    f"build_windows.symbols.{symbol}: {pattern!r} names no file of build_windows.raw_files: "
                    "list the files in raw_files too (globs allowed) or fix the pattern"
                )
            for name in hits:
                if owner.setdefault(name, symbol) != symbol:
                    raise MoolaError(
                        f"build_windows.symbols: file {name} is named by both {owner[name]} and {symbol}: "
                        "give each file one symbol"
                    )
    grouped: dict[str, list[str]] = {}
    for name in names:
        symbol = owner.get(name, Path(name).stem)
        if symbol in grouped and name not in owner:
            raise MoolaError(
                f"build_windows.raw_files: file {name} has the stem {symbol!r} of another symbol: "
                f"rename the file or give it a symbol under build_windows.symbols.{symbol}"
            )
        grouped.setdefault(symbol, []).append(name)
    return grouped


def join_series(symbol: str, parts: list[RawSeries], min_bars: int) -> RawSeries:
    """Join the files of one symbol in time order; overlapping or repeated bars are refused.

    Args:
        symbol: the symbol name.
        parts: validated series of each file (any order).
        min_bars: bars needed for one window.

    Returns:
        One RawSeries; a single part keeps its own source and symbol's name.
    """
    if len(parts) == 1 and parts[0].symbol == symbol:
        return parts[0]
    ordered = sorted(parts, key=lambda part: (part.timestamps[0], part.timestamps[-1]))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.timestamps[0] <= before.timestamps[-1]:
            row = int(np.searchsorted(after.timestamps, before.timestamps[-1], side="right")) - 1
            raise MoolaError(
                f"raw files {before.source} and {after.source} of symbol {symbol} overlap: {after.source} starts at "
                f"{after.timestamp_text(0)}, {before.source} ends at {before.timestamp_text(before.n_bars - 1)} "
                f"({row + 1} bars of {after.source} at or before that end): remove the repeated bars from one file"
            )
    n_bars = sum(part.n_bars for part in ordered)
    if n_bars < min_bars:
        raise MoolaError(
            f"symbol {symbol} has {n_bars} bars in {len(ordered)} files, fewer than one window of {min_bars} "
            "(build_windows.window): add bars or lower the window"
        )
    volumes = [part.volume for part in ordered]
    return RawSeries(
        symbol=symbol,
        source=ordered[0].source,
        timestamps=np.concatenate([part.timestamps for part in ordered]),
        ohlc=np.concatenate([part.ohlc for part in ordered]),
        volume=None if any(v is None for v in volumes) else np.concatenate(volumes),
        sha256="",
        file_names=tuple(part.source for part in ordered),
        file_starts=np.cumsum([0] + [part.n_bars for part in ordered[:-1]]).astype(np.int64),
    )


def read_symbols(
    raw_dir: Path, raw_files: list[str], symbols: dict[str, list[str]], window: int
) -> tuple[list[RawSeries], list[RawSeries]]:
    """Read, validate and join every raw file of build_windows.

    Args:
        raw_dir: data/raw/.
        raw_files, symbols: build_windows.raw_files and build_windows.symbols.
        window: bars per window T (each symbol needs one window of bars).

    Returns:
        (one series per symbol in order, one series per file read), the latter for the manifest.
    """
    from moola.paths import resolve_inside
    from moola.progress import progress

    series, files = [], []
    resolved = resolve_raw_files(raw_dir, raw_files, symbols)
    for symbol, names in progress(resolved.items(), total=len(resolved), desc="raw files", unit="symbol"):
        min_bars = window if len(names) == 1 else 1
        parts = [
            read_raw_series(
                resolve_inside(raw_dir, name, f"raw file {name!r} in build_windows.raw_files"), name, min_bars
            )
            for name in names
        ]
        files.extend(parts)
        series.append(join_series(symbol, parts, window))
        log.debug("%s: %d bars from %s", symbol, series[-1].n_bars, ", ".join(names))
    return series, files
