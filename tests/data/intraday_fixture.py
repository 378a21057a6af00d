"""Generated intraday data for tests: 1-minute bars in daily sessions as monthly parquet files, plus hand labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SYMBOL = "NQ_1m"
GRADES = ("A", "B", "C", "D")


def session_timestamps(first_month: str, months: int, open_utc: str, close_utc: str):
    """1-minute bar times of every weekday session [open, close) in `months` months from `first_month`.

    Nights between sessions and weekends are the gaps.
    """
    import pandas as pd

    first = pd.Timestamp(f"{first_month}-01", tz="UTC")
    days = pd.date_range(first, first + pd.DateOffset(months=months), freq="D", inclusive="left")
    days = days[days.day_of_week < 5]
    length = int((pd.Timedelta(close_utc) - pd.Timedelta(open_utc)) / pd.Timedelta("1min"))
    opens = (days + pd.Timedelta(open_utc)).tz_convert(None).to_numpy().astype("datetime64[ns]")
    minutes = np.arange(length).astype("timedelta64[m]")
    return pd.DatetimeIndex((opens[:, None] + minutes[None, :]).reshape(-1)).tz_localize("UTC")


def write_intraday_data(
    data_dir: Path,
    months: int = 2,
    n_labels: int = 60,
    class_names: tuple[str, str] = ("consolidation", "retracement"),
    window: int = 105,
    seed: int = 7,
    first_month: str = "2021-01",
    session: tuple[str, str] = ("14:30:00", "21:00:00"),
    t1_every: int = 0,
    t1_after: str = "1D",
) -> dict:
    """Write data_dir/raw/NQ_1m_<YYYY-MM>.parquet (one per month) and data_dir/raw/labels.csv.

    Bars are a seeded random walk, 390 per weekday session by default, so every night and weekend
    is a gap. Labels are binary with the given names (the second class when the window's close
    rose, so a model can learn something), each with a span inside the window (half of them as
    bar indices, half as timestamps), a grade A..D and the window's start; every labeled window
    lies inside one session. With t1_every, every t1_every-th label (the first included) gets a
    `t1` column value `t1_after` past its window end; the others leave t1 empty (= the end).

    Args:
        data_dir: the project's data/ folder.
        months: monthly files to write.
        n_labels: labeled windows.
        class_names: the two class names.
        window: bars per window T.
        seed: seed of bars and labels.
        first_month: "YYYY-MM" of the first file.
        session: (open, close) time of day in UTC.
        t1_every: give every this many-th label an explicit t1 (0 = no t1 column).
        t1_after: pandas Timedelta from a window's end to its explicit t1.

    Returns:
        {"build_windows": the params that read this data (raw_files, symbols, labels, labels_file,
        classes, window, max_gap), "files": the parquet names, "labels_rows": the CSV's rows}.
    """
    import pandas as pd

    raw = Path(data_dir) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    stamps = session_timestamps(first_month, months, *session)
    n = len(stamps)
    close = 15_000.0 * np.exp(np.cumsum(rng.normal(0.0, 4e-4, n)))
    open_ = np.concatenate([[15_000.0], close[:-1]]) * np.exp(rng.normal(0.0, 1e-4, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 2e-4, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 2e-4, n)))
    frame = pd.DataFrame(
        {
            "timestamp": stamps,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(1, 500, n).astype("float64"),
        }
    )
    files = []
    for month, part in frame.groupby(frame["timestamp"].dt.strftime("%Y-%m"), sort=True):
        name = f"{SYMBOL}_{month}.parquet"
        part.to_parquet(raw / name, index=False)
        files.append(name)

    # Window ends whose window lies inside one session (no gap over a minute inside it).
    ns = stamps.tz_convert(None).to_numpy().astype("datetime64[ns]").view("int64")
    minute = 60_000_000_000
    step = np.diff(ns, prepend=ns[0] - minute)
    session_start = np.maximum.accumulate(np.where(step > minute, np.arange(n), 0))
    inside = np.flatnonzero(np.arange(n) - session_start >= window - 1)
    ends = np.sort(rng.choice(inside, size=n_labels, replace=False))
    rows = []
    for k, end in enumerate(ends):
        first = end - window + 1
        rose = close[end] > close[first]
        span = np.sort(rng.choice(window, size=2, replace=False))
        as_time = k % 2 == 1
        span_cells = [stamps[first + int(i)].isoformat() if as_time else int(i) for i in span]
        rows.append(
            {
                "symbol": SYMBOL,
                "end": stamps[end].isoformat(),
                "start": stamps[first].isoformat(),
                "label": class_names[int(rose)],
                "span_start": span_cells[0],
                "span_end": span_cells[1],
                "quality": GRADES[int(rng.integers(0, len(GRADES)))],
            }
        )
        if t1_every:
            rows[-1]["t1"] = (stamps[end] + pd.Timedelta(t1_after)).isoformat() if k % t1_every == 0 else ""
    pd.DataFrame(rows).to_csv(raw / "labels.csv", index=False)
    return {
        "build_windows": {
            "raw_files": [f"{SYMBOL}_*.parquet"],
            "symbols": {SYMBOL: [f"{SYMBOL}_*.parquet"]},
            "labels": "file",
            "labels_file": "raw/labels.csv",
            "classes": list(class_names),
            "window": window,
            "max_gap": "5min",
        },
        "files": files,
        "labels_rows": rows,
    }
