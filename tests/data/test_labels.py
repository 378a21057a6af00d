"""Triple-barrier labels on hand-built price paths, and the hand-labeled CSV file."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_ohlc_frame
from moola.data.labels import DOWN, NEUTRAL, UP, read_labels_file, triple_barrier_labels, volatility_target
from moola.data.raw import validate_ohlc_frame
from moola.errors import MoolaError

K, HORIZON, VOL_SPAN = 2.0, 5, 50
END = 79  # last bar of the window being labeled


def _path():
    """80 bars alternating 100/101 (returns about +-1%), then HORIZON flat bars at the last close.

    Returns the (n, 4) bars and the window's upper and lower barrier prices.
    """
    history = np.where(np.arange(END + 1) % 2 == 0, 100.0, 101.0)
    open_ = np.concatenate([[100.0], history[:-1]])
    bars = np.stack([open_, np.maximum(open_, history), np.minimum(open_, history), history], axis=1)
    flat = np.tile(history[-1], (HORIZON, 4))
    ohlc = np.concatenate([bars, flat])
    target = volatility_target(ohlc[:, 3], VOL_SPAN)[END]
    close = ohlc[END, 3]
    return ohlc, close * (1 + K * target), close * (1 - K * target)


def _label(ohlc):
    labels, t1 = triple_barrier_labels(ohlc, np.array([END]), K, HORIZON, VOL_SPAN)
    return int(labels[0]), int(t1[0])


def test_volatility_target_is_causal_and_sized_like_the_returns():
    ohlc, _, _ = _path()
    target = volatility_target(ohlc[:, 3], VOL_SPAN)
    assert np.isnan(target[:VOL_SPAN]).all() and np.isfinite(target[VOL_SPAN:]).all()
    assert 0.009 < target[END - 1] < 0.011  # returns are +1% / -0.99%
    later_changed = ohlc[:, 3].copy()
    later_changed[END + 1 :] *= 3.0
    np.testing.assert_array_equal(volatility_target(later_changed, VOL_SPAN)[: END + 1], target[: END + 1])


def test_upper_barrier_first_is_up_with_t1_at_the_touch():
    ohlc, upper, _ = _path()
    ohlc[END + 3, 1] = upper  # a touch exactly at the barrier counts
    ohlc[END + 4, 2] = 1.0  # a later fall through the lower barrier does not matter
    assert _label(ohlc) == (UP, END + 3)


def test_lower_barrier_first_is_down():
    ohlc, upper, lower = _path()
    ohlc[END + 2, 2] = lower * 0.999
    ohlc[END + 5, 1] = upper * 1.5
    assert _label(ohlc) == (DOWN, END + 2)


def test_no_touch_is_neutral_at_the_vertical_barrier():
    ohlc, upper, lower = _path()
    ohlc[END + 1 :, 1] = upper * 0.999
    ohlc[END + 1 :, 2] = lower * 1.001
    assert _label(ohlc) == (NEUTRAL, END + HORIZON)


def test_a_touch_just_after_the_horizon_is_ignored():
    ohlc, upper, _ = _path()
    ohlc = np.concatenate([ohlc, ohlc[-1:]])
    ohlc[END + HORIZON + 1, 1] = upper * 2
    assert _label(ohlc) == (NEUTRAL, END + HORIZON)


def test_both_barriers_in_one_bar_with_the_open_inside_is_neutral():
    ohlc, upper, lower = _path()
    ohlc[END + 2, 1], ohlc[END + 2, 2] = upper * 1.01, lower * 0.99
    assert _label(ohlc) == (NEUTRAL, END + 2)


@pytest.mark.parametrize("gap, expected", [("above", UP), ("below", DOWN)])
def test_both_barriers_in_one_bar_after_a_gap_follow_the_open(gap, expected):
    ohlc, upper, lower = _path()
    opening = upper * 1.001 if gap == "above" else lower * 0.999
    ohlc[END + 2] = [opening, max(opening, upper * 1.01), min(opening, lower * 0.99), ohlc[END, 3]]
    assert _label(ohlc) == (expected, END + 2)


def test_many_windows_at_once_equal_one_at_a_time():
    frame = make_ohlc_frame(400, seed=3)
    ohlc = frame[["open", "high", "low", "close"]].to_numpy()
    ends = np.arange(63, 400 - 20, 7)
    labels, t1 = triple_barrier_labels(ohlc, ends, 1.5, 20, VOL_SPAN)
    for i, end in enumerate(ends):
        one_label, one_t1 = triple_barrier_labels(ohlc, np.array([end]), 1.5, 20, VOL_SPAN)
        assert (labels[i], t1[i]) == (one_label[0], one_t1[0])
    assert set(np.unique(labels)) <= {DOWN, NEUTRAL, UP}
    assert ((t1 > ends) & (t1 <= ends + 20)).all()


def test_a_window_whose_horizon_passes_the_data_end_is_refused():
    ohlc, _, _ = _path()
    with pytest.raises(ValueError, match="past the data end"):
        triple_barrier_labels(ohlc[:-1], np.array([END]), K, HORIZON, VOL_SPAN)


# --- labels file ---------------------------------------------------------------------------

WINDOW = 64


@pytest.fixture
def series():
    built = {}
    for i, symbol in enumerate(["AAA_1d", "BBB_1d"]):
        frame = make_ohlc_frame(100, seed=i, start="2001-01-01")
        built[symbol] = validate_ohlc_frame(frame, f"{symbol}.parquet", symbol, f"{symbol}.parquet", WINDOW)
    return built


def _csv(tmp_path, text):
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_labels_file_is_matched_to_window_ends_with_t1_at_the_end(series, tmp_path):
    # Bars are daily from 2001-01-01: row 63 is 2001-03-05, row 95 is 2001-04-06.
    path = _csv(
        tmp_path,
        "symbol,end,label,note\n"
        "AAA_1d,2001-04-06,up,late\n"
        "AAA_1d,2001-03-05T00:00:00Z,0,\n"
        "\n"
        "BBB_1d,2001-03-10 00:00:00+00:00,neutral,x\n",
    )
    labels = read_labels_file(path, series, WINDOW, ["down", "neutral", "up"])
    assert sorted(labels.by_symbol) == ["AAA_1d", "BBB_1d"] and labels.class_names == ["down", "neutral", "up"]
    aaa = labels.by_symbol["AAA_1d"]
    np.testing.assert_array_equal(aaa.end_bars, [63, 95])
    np.testing.assert_array_equal(aaa.labels, [DOWN, UP])
    np.testing.assert_array_equal(aaa.t1, series["AAA_1d"].timestamps[[63, 95]])  # hand labels: t1 = window end
    np.testing.assert_array_equal(aaa.span_start, [-1, -1])
    np.testing.assert_array_equal(aaa.lines, [3, 2])
    np.testing.assert_array_equal(labels.by_symbol["BBB_1d"].labels, [NEUTRAL])


def test_classes_come_from_the_file_in_first_seen_order(series, tmp_path):
    path = _csv(
        tmp_path,
        "symbol,end,label\nAAA_1d,2001-04-06,retracement\nAAA_1d,2001-03-05,consolidation\nBBB_1d,2001-03-10,retracement\n",
    )
    labels = read_labels_file(path, series, WINDOW)
    assert labels.class_names == ["retracement", "consolidation"]
    np.testing.assert_array_equal(labels.by_symbol["AAA_1d"].labels, [1, 0])


def test_codes_alone_give_classes_zero_to_k(series, tmp_path):
    path = _csv(tmp_path, "symbol,end,label\nAAA_1d,2001-04-06,2\nAAA_1d,2001-03-05,0\nBBB_1d,2001-03-05,1\n")
    labels = read_labels_file(path, series, WINDOW)
    assert labels.class_names == ["0", "1", "2"]
    np.testing.assert_array_equal(labels.by_symbol["AAA_1d"].labels, [0, 2])


def test_codes_that_skip_one_are_refused_not_renumbered(series, tmp_path):
    # codes 1 and 2 alone would make a class "0" with no window, which only train would notice
    path = _csv(tmp_path, "symbol,end,label\nAAA_1d,2001-04-06,2\nAAA_1d,2001-03-05,1\n")
    with pytest.raises(
        MoolaError,
        match=r"codes run to 2 but no row has code 0, .*use codes 0..K-1, "
        r"or write class names .* build_windows.classes",
    ):
        read_labels_file(path, series, WINDOW)


def test_spans_start_quality_and_t1_columns(series, tmp_path):
    path = _csv(
        tmp_path,
        "symbol,end,label,start,span_start,span_end,quality,t1\n"
        "AAA_1d,2001-03-05,flag,2001-01-01,10,20,b,2001-03-09\n"
        "AAA_1d,2001-04-06,wedge,,2001-03-01,2001-04-06,A,\n"
        "BBB_1d,2001-03-10,flag,,,,D,\n",
    )
    labels = read_labels_file(path, series, WINDOW, min_quality="C")
    aaa = labels.by_symbol["AAA_1d"]
    assert "BBB_1d" not in labels.by_symbol and labels.dropped_quality == {"D": 1}
    np.testing.assert_array_equal(aaa.span_start, [10, 59 - 32])  # 2001-03-01 is row 59; the window starts at row 32
    np.testing.assert_array_equal(aaa.span_end, [20, 63])
    assert aaa.quality.tolist() == ["B", "A"]
    np.testing.assert_array_equal(aaa.t1, np.array(["2001-03-09", "2001-04-06"], dtype="datetime64[ns]"))


def test_parquet_labels_file(series, tmp_path):
    import pandas as pd

    path = tmp_path / "labels.parquet"
    pd.DataFrame(
        {
            "symbol": ["AAA_1d", "BBB_1d"],
            "end": pd.to_datetime(["2001-03-05", "2001-03-10"]).tz_localize("UTC"),
            "label": [1, 0],
            "span_start": [3, 5],
            "span_end": [9, 60],
        }
    ).to_parquet(path, index=False)
    labels = read_labels_file(path, series, WINDOW, ["quiet", "busy"])
    np.testing.assert_array_equal(labels.by_symbol["AAA_1d"].labels, [1])
    np.testing.assert_array_equal(labels.by_symbol["BBB_1d"].span_end, [60])
    with pytest.raises(MoolaError, match=r"labels.parquet, row 1: span_end '99' lies outside the window"):
        frame = pd.read_parquet(path)
        frame.loc[1, "span_end"] = 99
        frame.to_parquet(path, index=False)
        read_labels_file(path, series, WINDOW, ["quiet", "busy"])


HEADER = "symbol,end,label\n"
BAD_LABEL_FILES = {
    "unknown symbol": (HEADER + "AAA_1d,2001-03-05,up\nZZZ_1d,2001-03-05,up\n", "line 3: unknown symbol 'ZZZ_1d'"),
    "unknown class": (
        HEADER + "AAA_1d,2001-03-05,sideways\n",
        "line 2: unknown class 'sideways': the classes are down, neutral, up",
    ),
    "code out of range": (HEADER + "AAA_1d,2001-03-05,3\n", "line 2: label code 3 is outside 0..2"),
    "bad timestamp": (HEADER + "AAA_1d,soon,up\n", "line 2: end 'soon' is not a timestamp"),
    "time without a date": (HEADER + "AAA_1d,10:00,up\n", "line 2: end '10:00' is not a timestamp"),
    "not a bar": (HEADER + "AAA_1d,2001-03-05T12:00,up\n", "line 2: no window of AAA_1d ends at"),
    "too early": (HEADER + "AAA_1d,2001-01-20,up\n", "only 20 bars up to it, a window needs 64"),
    "duplicate": (
        HEADER + "AAA_1d,2001-03-05,up\nBBB_1d,2001-03-05,up\nAAA_1d,2001-03-05T00:00Z,down\n",
        "line 4: repeats the window AAA_1d ending 2001-03-05T00:00:00Z of line 2",
    ),
    "missing column": ("symbol,label\nAAA_1d,up\n", "line 1: lacks column(s) end"),
    "short row": (HEADER + "AAA_1d,2001-03-05\n", "line 2: has 2 fields, the header has 3"),
    "empty label": (HEADER + "AAA_1d,2001-03-05,\n", "line 2: label is empty"),
    "empty": ("", "is empty"),
    "header only": (HEADER, "no label rows"),
    "start disagrees": (
        "symbol,end,label,start\nAAA_1d,2001-03-05,up,2001-01-02\n",
        "line 2: start '2001-01-02' disagrees with the window length: the 64-bar window",
    ),
    "span outside": (
        "symbol,end,label,span_start,span_end\nAAA_1d,2001-03-05,up,10,64\n",
        "line 2: span_end '64' lies outside the window",
    ),
    "span timestamp outside": (
        "symbol,end,label,span_start,span_end\nAAA_1d,2001-03-05,up,2001-03-06,2001-03-05\n",
        "line 2: span_start '2001-03-06' lies outside the window",
    ),
    "span reversed": (
        "symbol,end,label,span_start,span_end\nAAA_1d,2001-03-05,up,20,10\n",
        "span_start (bar 20) is after span_end (bar 10)",
    ),
    "half a span": ("symbol,end,label,span_start,span_end\nAAA_1d,2001-03-05,up,20,\n", "give both or neither"),
    "unknown grade": ("symbol,end,label,quality\nAAA_1d,2001-03-05,up,E\n", "line 2: unknown quality grade 'E'"),
    "t1 before end": ("symbol,end,label,t1\nAAA_1d,2001-03-05,up,2001-03-01\n", "line 2: t1 '2001-03-01' is before"),
    "huge field": (HEADER + "AAA_1d,2001-03-05," + "x" * 200_000 + "\n", "line 2: cannot be read as CSV"),
    "huge end": (HEADER + "AAA_1d," + "9" * 100_000 + ",up\n", "line 2: end '99999"),
}


@pytest.mark.parametrize("case", sorted(BAD_LABEL_FILES))
def test_labels_file_errors_name_the_line(case, series, tmp_path):
    text, expected = BAD_LABEL_FILES[case]
    with pytest.raises(MoolaError) as caught:
        read_labels_file(_csv(tmp_path, text), series, WINDOW, ["down", "neutral", "up"])
    message = str(caught.value)
    assert expected in message, message
    assert "labels.csv" in message and "\n" not in message and len(message) < 600


@pytest.mark.parametrize(
    "text, expected",
    [
        (HEADER + "AAA_1d,2001-03-05,flag\nAAA_1d,2001-04-06,flag\n", "line 2: every row has the class 'flag'"),
        (
            HEADER + "AAA_1d,2001-03-05,flag\n\nAAA_1d,2001-04-06,1\n",
            "line 4: label 1 is a code but earlier rows use names",
        ),
        (HEADER + "AAA_1d,2001-03-05,1\nAAA_1d,2001-04-06,flag\n", "line 3: label 'flag' is a name but earlier rows"),
    ],
)
def test_classes_taken_from_the_file_need_two_of_one_kind(series, tmp_path, text, expected):
    with pytest.raises(MoolaError, match=expected):
        read_labels_file(_csv(tmp_path, text), series, WINDOW)


@pytest.mark.parametrize("word", ["now", "today", "yesterday", "tomorrow", " Now ", "today 10:00"])
@pytest.mark.parametrize("column", ["end", "start", "span_start", "t1"])
def test_a_date_the_clock_decides_is_refused_in_every_date_column(series, tmp_path, word, column):
    cells = {"end": "2001-03-05", "start": "", "span_start": "", "span_end": "", "t1": ""}
    cells[column] = word
    if column == "span_start":
        cells["span_end"] = "5"
    text = "symbol,label," + ",".join(cells) + "\nAAA_1d,up," + ",".join(cells.values()) + "\n"
    with pytest.raises(
        MoolaError,
        match=rf"line 2: {column} '{word.strip()}' is a date relative to the clock, so two "
        r"builds .* write it as the date itself in ISO form",
    ):
        read_labels_file(_csv(tmp_path, text), series, WINDOW, ["down", "up"])


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"])
def test_line_numbers_count_only_real_line_ends(series, tmp_path, separator):
    # U+2028 and its kind inside a field are text; a quoted line break, \r\n and \r do end lines
    text = (
        "symbol,end,label,note\r\n"
        f"AAA_1d,2001-03-05,up,a{separator}b\r\n"
        'AAA_1d,2001-04-06,down,"two\nlines"\r'
        f"BBB_1d,2001-03-05,up,{separator}\n"
        "ZZZ_1d,2001-03-05,up,\n"
    )
    with pytest.raises(MoolaError, match=r"labels.csv, line 6: unknown symbol 'ZZZ_1d'"):
        read_labels_file(_csv(tmp_path, text), series, WINDOW, ["down", "up"])
    good = _csv(tmp_path, text.replace("ZZZ_1d,2001-03-05,up,\n", ""))
    labels = read_labels_file(good, series, WINDOW, ["down", "up"])
    np.testing.assert_array_equal(labels.by_symbol["AAA_1d"].lines, [2, 3])
    np.testing.assert_array_equal(labels.by_symbol["BBB_1d"].lines, [5])


def test_min_quality_that_drops_every_row_of_one_class_is_refused(series, tmp_path):
    path = _csv(
        tmp_path,
        "symbol,end,label,quality\nAAA_1d,2001-03-05,flag,A\nAAA_1d,2001-04-06,wedge,D\nBBB_1d,2001-03-05,wedge,C\n",
    )
    assert read_labels_file(path, series, WINDOW, min_quality="C").dropped_quality == {"D": 1}
    with pytest.raises(
        MoolaError,
        match=r"line 3: build_windows.min_quality = B drops every row of class 'wedge' "
        r"\(2 graded worse\), leaving it no window: lower min_quality",
    ):
        read_labels_file(path, series, WINDOW, min_quality="B")


def test_a_listed_class_without_a_row_is_refused(series, tmp_path):
    path = _csv(tmp_path, HEADER + "AAA_1d,2001-03-05,up\nAAA_1d,2001-04-06,down\n")
    assert read_labels_file(path, series, WINDOW, ["down", "up"]).class_names == ["down", "up"]
    with pytest.raises(MoolaError, match="class 'neutral' of build_windows.classes has no row: label windows of it"):
        read_labels_file(path, series, WINDOW, ["down", "neutral", "up"])


def test_min_quality_that_drops_everything_is_refused(series, tmp_path):
    path = _csv(tmp_path, "symbol,end,label,quality\nAAA_1d,2001-03-05,up,D\n")
    with pytest.raises(MoolaError, match="min_quality = A drops every row"):
        read_labels_file(path, series, WINDOW, ["down", "up"], min_quality="A")


def test_min_quality_needs_a_quality_column(series, tmp_path):
    path = _csv(tmp_path, "symbol,end,label\nAAA_1d,2001-03-05,up\n")
    with pytest.raises(MoolaError, match="has no quality column but build_windows.min_quality = B"):
        read_labels_file(path, series, WINDOW, ["down", "up"], min_quality="B")


def test_span_indices_written_as_floats_are_read(series, tmp_path):
    path = _csv(
        tmp_path, "symbol,end,label,span_start,span_end\nAAA_1d,2001-03-05,up,3.0,7.0\nBBB_1d,2001-03-05,down,,\n"
    )
    labels = read_labels_file(path, series, WINDOW)
    np.testing.assert_array_equal(labels.by_symbol["AAA_1d"].span_end, [7])
    np.testing.assert_array_equal(labels.by_symbol["BBB_1d"].span_start, [-1])


def test_missing_labels_file(series, tmp_path):
    with pytest.raises(MoolaError, match="not found: check build_windows.labels_file"):
        read_labels_file(tmp_path / "nope.csv", series, WINDOW)
