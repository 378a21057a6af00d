"""Fuzzed labels CSV files: `moola build-windows` with `build_windows.labels: file` refuses each in one line.

Each example starts from a few good rows (real bar times of the raw files) and breaks the file:
fields of 100 kB and more, text or out-of-range dates (years 1500, 2300, 99999), unknown labels
or symbols, short lines, repeated rows, times that are not bars, a bad header, bytes that are not
UTF-8, NUL bytes, an unclosed quote. The file lives under data/raw/, so the snapshot is taken
after it is written.
"""

from __future__ import annotations

import pytest
import yaml
from fuzz_project import check_refused, copy_template, fuzz_settings, snapshot, trained_template
from hypothesis import given
from hypothesis import strategies as st

EXAMPLES = 300
LABELS = "data/raw/labels.csv"
HEADER = "symbol,end,label"

_huge = st.integers(min_value=100_000, max_value=400_000).map(lambda n: "z" * n)
# Valid timestamps that are no bar of the raw series.
_not_a_bar = st.sampled_from(["1999-01-01", "2001-01-01T05:00:00Z", "2050-01-01", "2001-01-02T00:00:01"])
_bad_dates = st.one_of(
    st.sampled_from(
        [
            "2300-01-01",
            "1500-06-01",
            "99999-01-01",
            "2262-04-12T00:00:00Z",
            "1677-09-21",
            "1e400",
            "2001-13-01",
            "2001-02-30",
            "-1",
            "0",
            "NaT",
            "nan",
            "today",
            "now",
            "",
        ]
    ),
    st.text(max_size=30).filter(lambda s: "," not in s and "\n" not in s and "\r" not in s),
)

KNOWN_LABELS = ("down", "neutral", "up", "0", "1", "2")
KNOWN_SYMBOLS = ("AAA_1d", "BBB_1d")
# One CSV cell: printable, no separator or quote.
_cell = st.text(min_size=1, max_size=20).filter(lambda s: s.isprintable() and "," not in s and '"' not in s)


@st.composite
def broken_labels(draw, good_rows: list[str]) -> bytes:
    """The bytes of a labels file build-windows must refuse."""
    rows = list(good_rows[: draw(st.integers(min_value=1, max_value=len(good_rows)))])
    kind = draw(
        st.sampled_from(
            [
                "huge_field",
                "bad_date",
                "unknown_label",
                "unknown_symbol",
                "short_line",
                "duplicate",
                "not_a_bar",
                "header",
                "not_utf8",
                "nul",
                "open_quote",
                "junk_line",
            ]
        )
    )
    at = draw(st.integers(min_value=0, max_value=len(rows) - 1))
    symbol, end, label = rows[at].split(",")
    header = HEADER
    if kind == "huge_field":
        field = draw(st.sampled_from(["symbol", "end", "label", "extra"]))
        huge = draw(_huge)
        if draw(st.booleans()):
            huge = f'"{huge}"'
        if field == "extra":
            header += ",note"
            rows = [row + "," for row in rows]
            rows[at] = f"{symbol},{end},{label},{huge}"
        else:
            values = {"symbol": symbol, "end": end, "label": label, field: huge}
            rows[at] = ",".join(values[name] for name in ("symbol", "end", "label"))
    elif kind == "bad_date":
        rows[at] = f"{symbol},{draw(_bad_dates)},{label}"
    elif kind == "unknown_label":
        rows[at] = f"{symbol},{end},{draw(_cell.filter(lambda s: s.strip().lower() not in KNOWN_LABELS))}"
    elif kind == "unknown_symbol":
        rows[at] = f"{draw(_cell.filter(lambda s: s.strip() not in KNOWN_SYMBOLS))},{end},{label}"
    elif kind == "short_line":
        rows[at] = draw(st.sampled_from([symbol, f"{symbol},{end}"]))
    elif kind == "duplicate":
        rows.insert(draw(st.integers(min_value=0, max_value=len(rows))), rows[at])
    elif kind == "not_a_bar":
        rows[at] = f"{symbol},{draw(_not_a_bar)},{label}"
    elif kind == "header":
        header = draw(st.sampled_from(["", "symbol,label", "sym,end,label", ",,", "end"]))
        if header == "":
            rows = []
    elif kind == "not_utf8":
        return (HEADER + "\n" + "\n".join(rows) + "\n").encode() + draw(
            st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\x80"])
        )
    elif kind == "nul":
        rows[at] = f"{symbol}\x00,{end},{label}"
    elif kind == "open_quote":
        rows[at] = f'{symbol},"{end},{label}'
    else:  # junk_line
        rows.insert(at, draw(st.text(min_size=1, max_size=60).filter(lambda s: s.strip() and "\r" not in s)))
    return (header + "\n" + "\n".join(rows) + "\n").encode("utf-8")


@pytest.fixture(scope="module")
def fuzz_root(_data_stages_template, tmp_path_factory, project_context):
    template = trained_template(_data_stages_template, tmp_path_factory, project_context)
    return copy_template(template, tmp_path_factory.mktemp("fuzz_labels") / "project")


@pytest.mark.slow
def test_fuzzed_labels_files_are_refused_cleanly(fuzz_root, project_context):
    import pandas as pd

    params_file = fuzz_root / "params.yaml"
    good_params = params_file.read_text(encoding="utf-8")
    params = yaml.safe_load(good_params)
    # version v1 exists: a file that happened to be sound is refused as a rewrite, never built
    params["build_windows"].update(labels="file", labels_file="raw/labels.csv")
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    times = pd.read_parquet(fuzz_root / "data/raw/AAA_1d.parquet")["timestamp"]
    good_rows = [
        f"AAA_1d,{times.iloc[row].strftime('%Y-%m-%d')},{label}"
        for row, label in ((100, "up"), (200, "down"), (300, "neutral"))
    ]
    labels = fuzz_root / LABELS

    @fuzz_settings(EXAMPLES)
    @given(content=broken_labels(good_rows))
    def refused(content):
        labels.write_bytes(content)
        check_refused(fuzz_root, ["build-windows"], project_context, snapshot(fuzz_root), restore=labels.unlink)

    try:
        refused()
    finally:
        params_file.write_text(good_params, encoding="utf-8")
