"""Raw OHLC validation: every rule refuses a crafted bad file with one line naming file, row and rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import make_ohlc_frame
from moola.data.raw import read_raw_series, validate_ohlc_frame
from moola.errors import MoolaError

WINDOW = 64


def _write(frame, tmp_path, name="TEST_1d.parquet"):
    path = tmp_path / name
    frame.to_parquet(path, index=False)
    return path


def _set(column, row, value):
    def mutate(frame):
        frame.loc[row, column] = value
        return frame

    return mutate


def _swap_high_low(row):
    def mutate(frame):
        high, low = float(frame.loc[row, "high"]), float(frame.loc[row, "low"])
        frame.loc[row, "high"], frame.loc[row, "low"] = low, high
        return frame

    return mutate


def _high_below_body(row):
    def mutate(frame):
        top = max(frame.loc[row, "open"], frame.loc[row, "close"])
        frame.loc[row, "high"] = top * 0.9999
        frame.loc[row, "low"] = min(frame.loc[row, "low"], top * 0.999)
        return frame

    return mutate


def _low_above_body(row):
    def mutate(frame):
        bottom = min(frame.loc[row, "open"], frame.loc[row, "close"])
        frame.loc[row, "low"] = bottom * 1.0001
        frame.loc[row, "high"] = max(frame.loc[row, "high"], bottom * 1.001)
        return frame

    return mutate


def _repeat_timestamp(row):
    def mutate(frame):
        frame.loc[row, "timestamp"] = frame.loc[row - 1, "timestamp"]
        return frame

    return mutate


def _swap_timestamps(row):
    def mutate(frame):
        first, second = frame.loc[row, "timestamp"], frame.loc[row + 1, "timestamp"]
        frame.loc[row, "timestamp"], frame.loc[row + 1, "timestamp"] = second, first
        return frame

    return mutate


BAD_FRAMES = {
    "missing column": (lambda f: f.drop(columns=["close"]), ["lacks column(s) close"]),
    "NaN price": (_set("close", 5, np.nan), ["row 5 (", "prices must be finite"]),
    "inf price": (_set("high", 7, np.inf), ["row 7 (", "prices must be finite"]),
    "zero price": (_set("low", 3, 0.0), ["row 3 (", "prices must be > 0"]),
    "negative price": (_set("open", 9, -1.0), ["row 9 (", "prices must be > 0", "open = -1.0"]),
    "high below low": (_swap_high_low(10), ["row 10 (", "'high >= low'"]),
    "high below body": (_high_below_body(12), ["row 12 (", "'high >= max(open, close)'"]),
    "low above body": (_low_above_body(13), ["row 13 (", "'low <= min(open, close)'"]),
    "NaN volume": (_set("volume", 4, np.nan), ["row 4 (", "volume must be finite"]),
    "negative volume": (_set("volume", 6, -5.0), ["row 6 (", "volume must be >= 0"]),
    "duplicated timestamp": (_repeat_timestamp(20), ["row 20 (", "timestamps must be unique", "repeats row 19"]),
    "unsorted timestamps": (_swap_timestamps(30), ["row 31 (", "timestamps must be strictly increasing"]),
    "naive timestamps": (
        lambda f: f.assign(timestamp=f["timestamp"].dt.tz_localize(None)),
        ["timestamp is naive", "tz_localize('UTC')"],
    ),
    "text timestamps": (
        lambda f: f.assign(timestamp=f["timestamp"].astype(str)),
        ["timestamp holds", "not datetimes"],
    ),
    "text prices": (lambda f: f.assign(open=f["open"].astype(str)), ["column open has type", "not numbers"]),
    "shorter than a window": (lambda f: f.iloc[: WINDOW - 1], ["has 63 bars, fewer than one window of 64"]),
    "no rows": (lambda f: f.iloc[:0], ["has no rows"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_each_rule_refuses_a_crafted_bad_file(case, tmp_path):
    mutate, expected = BAD_FRAMES[case]
    path = _write(mutate(make_ohlc_frame(100)), tmp_path)
    with pytest.raises(MoolaError) as caught:
        read_raw_series(path, path.name, WINDOW)
    message = str(caught.value)
    assert "\n" not in message
    assert "TEST_1d.parquet" in message
    for text in expected:
        assert text in message, (text, message)


def test_message_counts_further_offending_rows(tmp_path):
    frame = make_ohlc_frame(100)
    frame.loc[[5, 8, 40], "close"] = np.nan
    with pytest.raises(MoolaError, match=r"row 5 .*\(and 2 more rows\)"):
        read_raw_series(_write(frame, tmp_path), "TEST_1d.parquet", WINDOW)


@pytest.mark.parametrize(
    "content, expected",
    [(b"", r"is empty \(0 bytes\)"), (b"timestamp,open\n2020-01-01,1\n", "cannot be read as parquet")],
)
def test_empty_and_non_parquet_files(content, expected, tmp_path):
    path = tmp_path / "TEST_1d.parquet"
    path.write_bytes(content)
    with pytest.raises(MoolaError, match=expected):
        read_raw_series(path, path.name, WINDOW)


def test_truncated_parquet_file(tmp_path):
    path = _write(make_ohlc_frame(100), tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MoolaError, match="cannot be read as parquet.*truncated"):
        read_raw_series(path, path.name, WINDOW)


def test_missing_file_names_the_params_key(tmp_path):
    with pytest.raises(MoolaError, match="not found: check build_windows.raw_files"):
        read_raw_series(tmp_path / "NOPE_1d.parquet", "NOPE_1d.parquet", WINDOW)


def test_mixed_time_zones_are_refused():
    frame = make_ohlc_frame(100)
    stamps = list(frame["timestamp"])
    stamps[3] = stamps[3].tz_convert("Europe/Paris")
    frame["timestamp"] = pd.Series(stamps, dtype=object)
    with pytest.raises(MoolaError, match="mixes time zones"):
        validate_ohlc_frame(frame, "mem.parquet", "MEM", "mem.parquet", WINDOW)


def test_other_time_zones_are_converted_to_utc_exactly(tmp_path):
    frame = make_ohlc_frame(100, freq="h")
    expected = frame["timestamp"].dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    frame["timestamp"] = frame["timestamp"].dt.tz_convert("America/New_York")
    series = read_raw_series(_write(frame, tmp_path), "TEST_1d.parquet", WINDOW)
    np.testing.assert_array_equal(series.timestamps, expected)


def test_valid_file_gives_the_series(tmp_path):
    frame = make_ohlc_frame(100)
    series = read_raw_series(_write(frame, tmp_path, "ABC_1h.parquet"), "ABC_1h.parquet", WINDOW)
    assert (series.symbol, series.source, series.n_bars) == ("ABC_1h", "ABC_1h.parquet", 100)
    np.testing.assert_array_equal(series.ohlc, frame[["open", "high", "low", "close"]].to_numpy())
    np.testing.assert_array_equal(series.volume, frame["volume"].to_numpy())
    assert len(series.sha256) == 64
    assert series.timestamp_text(0) == "2000-01-03T00:00:00Z"


def test_volume_is_optional_and_extra_columns_are_ignored(tmp_path):
    frame = make_ohlc_frame(100).drop(columns=["volume"]).assign(note="x")
    series = read_raw_series(_write(frame, tmp_path), "TEST_1d.parquet", WINDOW)
    assert series.volume is None


# --- float32 range, nanosecond range, several files per symbol ------------------------------


def test_a_price_that_overflows_float32_is_refused_naming_the_row():
    frame = make_ohlc_frame(80)
    frame.loc[7, ["open", "high", "low", "close"]] = 1e308
    with pytest.raises(MoolaError) as caught:
        validate_ohlc_frame(frame, "x.parquet", "X", "x.parquet", WINDOW)
    message = str(caught.value)
    assert "x.parquet, row 7" in message and "finite as float32" in message and "1e+308" in message


def test_a_timestamp_beyond_the_nanosecond_range_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = make_ohlc_frame(80)
    stamps = frame["timestamp"].astype("datetime64[us, UTC]").tolist()
    stamps[-1] = pd.Timestamp("2300-01-01", tz="UTC").to_pydatetime()
    table = pa.table(
        {
            "timestamp": pa.array(stamps, type=pa.timestamp("us", tz="UTC")),
            **{name: frame[name].to_numpy() for name in ("open", "high", "low", "close")},
        }
    )
    pq.write_table(table, tmp_path / "FAR_1d.parquet")
    with pytest.raises(MoolaError) as caught:
        read_raw_series(tmp_path / "FAR_1d.parquet", "FAR_1d.parquet", WINDOW)
    message = str(caught.value)
    assert "row 79" in message and "outside the nanosecond range" in message and "\n" not in message


def _month_files(tmp_path, months=("2020-01", "2020-02", "2020-03")):
    for i, month in enumerate(months):
        frame = make_ohlc_frame(30, seed=i, start=f"{month}-01", freq="h")
        frame.to_parquet(tmp_path / f"NQ_1h_{month}.parquet", index=False)


def test_raw_files_globs_and_symbols_group_files(tmp_path):
    from moola.data.raw import resolve_raw_files

    _month_files(tmp_path)
    make_ohlc_frame(80).to_parquet(tmp_path / "ES_1d.parquet", index=False)
    grouped = resolve_raw_files(tmp_path, ["ES_1d.parquet", "NQ_1h_*.parquet"], {"NQ_1h": ["NQ_1h_2020-0*.parquet"]})
    assert grouped == {
        "ES_1d": ["ES_1d.parquet"],
        "NQ_1h": ["NQ_1h_2020-01.parquet", "NQ_1h_2020-02.parquet", "NQ_1h_2020-03.parquet"],
    }
    # Without the mapping every file is its own symbol, as before.
    assert list(resolve_raw_files(tmp_path, ["NQ_1h_*.parquet"], {})) == [
        "NQ_1h_2020-01",
        "NQ_1h_2020-02",
        "NQ_1h_2020-03",
    ]
    with pytest.raises(MoolaError, match="pattern 'XX_\\*.parquet' matches no file"):
        resolve_raw_files(tmp_path, ["XX_*.parquet"], {})
    with pytest.raises(MoolaError, match="symbols.NQ: 'NQ_9.parquet' names no file of build_windows.raw_files"):
        resolve_raw_files(tmp_path, ["ES_1d.parquet"], {"NQ": ["NQ_9.parquet"]})


def test_files_of_one_symbol_join_in_time_order_and_overlaps_are_refused(tmp_path):
    from moola.data.raw import join_series

    _month_files(tmp_path)
    names = ["NQ_1h_2020-03.parquet", "NQ_1h_2020-01.parquet", "NQ_1h_2020-02.parquet"]
    parts = [read_raw_series(tmp_path / name, name, 1) for name in names]
    joined = join_series("NQ_1h", parts, WINDOW)
    assert joined.n_bars == 90 and joined.symbol == "NQ_1h"
    assert joined.file_names == tuple(sorted(names))
    assert (np.diff(joined.timestamps.view("int64")) > 0).all()
    assert joined.sources_of(np.array([0, 29, 30, 89])).tolist() == [
        "NQ_1h_2020-01.parquet",
        "NQ_1h_2020-01.parquet",
        "NQ_1h_2020-02.parquet",
        "NQ_1h_2020-03.parquet",
    ]
    with pytest.raises(MoolaError, match="fewer than one window of 100"):
        join_series("NQ_1h", parts, 100)

    overlapping = make_ohlc_frame(30, seed=9, start="2020-01-02", freq="h")  # repeats bars of January
    overlapping.to_parquet(tmp_path / "NQ_1h_extra.parquet", index=False)
    extra = read_raw_series(tmp_path / "NQ_1h_extra.parquet", "NQ_1h_extra.parquet", 1)
    with pytest.raises(MoolaError) as caught:
        join_series("NQ_1h", parts + [extra], WINDOW)
    message = str(caught.value)
    assert "NQ_1h_2020-01.parquet and NQ_1h_extra.parquet of symbol NQ_1h overlap" in message
