"""`moola build-windows` end to end on the tiny project: layout, determinism, version guard, errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import make_ohlc_frame
from moola import cli
from moola.data.features import FEATURE_NAMES
from moola.data.windows import WindowSet, window_fingerprint
from moola.io import sha256_file

LABELED = "data/labeled_windows/v1"
UNLABELED = "data/unlabeled_windows/v1"


def _edit_params(root, **changes):
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["build_windows"].update(changes)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _hashes(root, *folders):
    return {
        f"{folder}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted((root / folder).iterdir())
    }


def _build(*extra):
    return cli.main(["build-windows", *extra])


def _error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_stage_writes_the_documented_layout(tiny_project, capsys):
    assert _build() == 0
    out = capsys.readouterr().out
    assert "2 symbols" in out and LABELED in out and UNLABELED in out

    labeled, unlabeled = tiny_project / LABELED, tiny_project / UNLABELED
    assert sorted(p.name for p in labeled.iterdir()) == [
        "X_feats20.npy",
        "X_ohlc.npy",
        "manifest.json",
        "meta.json",
        "windows.parquet",
        "y.npy",
    ]
    assert not (unlabeled / "y.npy").exists()

    ohlc = np.load(labeled / "X_ohlc.npy")
    feats = np.load(labeled / "X_feats20.npy")
    y = np.load(labeled / "y.npy")
    table = pd.read_parquet(labeled / "windows.parquet")
    meta = json.loads((labeled / "meta.json").read_text())
    n = len(y)
    assert ohlc.dtype == np.float32 and ohlc.shape == (n, 64, 4)
    assert feats.dtype == np.float32 and feats.shape == (n, 20) and np.isfinite(feats).all()
    assert y.dtype == np.int64 and set(np.unique(y)) <= {0, 1, 2}
    assert (ohlc[:, 0, 3] == 1.0).all()
    assert list(table.columns) == [
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
    assert (table["span_start"] == -1).all() and (table["span_end"] == -1).all() and (table["quality"] == "").all()
    assert str(table["start"].dtype) == "datetime64[ns, UTC]" and str(table["t1"].dtype) == "datetime64[ns, UTC]"
    np.testing.assert_array_equal(table["label"].to_numpy(), y)
    assert table["id"].is_unique
    assert (table["t1"] > table["end"]).all()
    # Windows at labeled_stride (20) with room for the horizon (10) in 900 bars: starts 0 .. 820.
    assert table.loc[table["symbol"] == "AAA_1d", "start_bar"].tolist() == list(range(0, 821, 20))
    assert table["id"].iloc[0] == "AAA_1d@2001-01-01T00:00:00Z"

    assert meta["n"] == n and meta["T"] == 64 and meta["kind"] == "labeled"
    assert meta["feature_names"] == FEATURE_NAMES and meta["class_names"] == ["down", "neutral", "up"]
    assert sum(meta["class_counts"].values()) == n and meta["label_method"] == "triple_barrier"
    for name, digest in meta["files"].items():
        assert sha256_file(labeled / name) == digest
    rebuilt = WindowSet("labeled", ohlc, feats, y, table)
    assert window_fingerprint(rebuilt) == meta["fingerprint"]

    manifest = json.loads((labeled / "manifest.json").read_text())
    assert manifest["creator"] == "moola build-windows"
    source = manifest["sources"][0]
    assert source["file"] == "AAA_1d.parquet" and source["rows"] == 900
    assert source["sha256"] == sha256_file(tiny_project / "data/raw/AAA_1d.parquet")
    assert manifest["params"]["build_windows"]["window"] == 64 and manifest["params"]["base"]["seed"] == 1337
    assert set(manifest["code"]) == {"moola", "code_sha256"}

    unlabeled_table = pd.read_parquet(unlabeled / "windows.parquet")
    assert (unlabeled_table["label"] == -1).all() and (unlabeled_table["t1"] == unlabeled_table["end"]).all()
    assert len(unlabeled_table) == 2 * len(range(0, 900 - 64 + 1, 8))
    assert (tiny_project / "plots/data/class_examples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rebuild_is_byte_identical(tiny_project):
    assert _build() == 0
    first = _hashes(tiny_project, LABELED, UNLABELED, "plots/data")
    assert _build() == 0
    assert _hashes(tiny_project, LABELED, UNLABELED, "plots/data") == first


def test_existing_version_with_other_content_is_refused(tiny_project, capsys):
    assert _build() == 0
    before = _hashes(tiny_project, LABELED, UNLABELED)
    _edit_params(tiny_project, unlabeled_stride=5)
    capsys.readouterr()
    assert _build() == 1
    err = _error_line(capsys)
    assert "data/unlabeled_windows/v1 already exists with different content" in err
    assert "build_windows.version" in err and "v2" in err
    assert _hashes(tiny_project, LABELED, UNLABELED) == before
    assert _build("--version", "v2") == 0
    assert (tiny_project / "data/unlabeled_windows/v2").is_dir()
    assert _hashes(tiny_project, LABELED, UNLABELED) == before


def test_folder_without_meta_is_not_overwritten(tiny_project, capsys):
    (tiny_project / LABELED).mkdir(parents=True)
    (tiny_project / LABELED / "notes.txt").write_text("mine")
    assert _build() == 1
    assert "exists but cannot be read as a labeled window version" in _error_line(capsys)
    assert (tiny_project / LABELED / "notes.txt").read_text() == "mine"
    assert not (tiny_project / UNLABELED).exists()


def test_bad_raw_file_stops_before_writing(tiny_project, capsys):
    frame = pd.read_parquet(tiny_project / "data/raw/BBB_1d.parquet")
    frame.loc[17, "high"] = frame.loc[17, "low"] * 0.5
    frame.to_parquet(tiny_project / "data/raw/BBB_1d.parquet", index=False)
    assert _build() == 1
    err = _error_line(capsys)
    assert "data/raw/BBB_1d.parquet, row 17 (2001-01-18T00:00:00Z)" in err and "'high >= low'" in err
    assert not (tiny_project / "data/labeled_windows").exists()


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {"window": 32, "vol_span": 20},
            "build_windows.window: = 32 is shorter than the longest feature look-back (momentum_64",
        ),
        ({"labels": "file"}, "build_windows.labels_file: is empty"),
        ({"raw_files": ["../secret.parquet"]}, "contains '..'"),
        ({"vol_span": 64}, "build_windows.vol_span"),
        ({"version": "a/b"}, "build_windows.version"),
        ({"horizon": 900}, "no labeled window"),
        ({"classes": ["up", "down"]}, "the triple-barrier labeler declares its own classes"),
        ({"labels": "file", "labels_file": "raw/l.csv", "classes": ["only"]}, "lists 1 class"),
        ({"min_quality": "E"}, "build_windows.min_quality: = 'E' is not a grade"),
        ({"min_quality": "B"}, "grades come from a labels file"),
        ({"max_gap": "soon"}, "build_windows.max_gap = 'soon' is not a pandas Timedelta"),
        ({"max_gap": "1"}, "build_windows.max_gap = '1' must be a pandas Timedelta string with a unit"),
        ({"max_gap": "1000D"}, "longer than 366D"),
        ({"symbols": {"NQ": []}}, "build_windows.symbols.NQ: give at least one file name"),
        ({"symbols": {"NQ": ["NQ_*.csv"]}}, "must be a .parquet file"),
        ({"raw_files": ["../*.parquet"]}, "contains '..'"),
        ({"symbols": {"NQ": ["/abs/NQ_*.parquet"]}}, "is absolute"),
    ],
)
def test_params_errors_are_one_line(tiny_project, capsys, changes, expected):
    _edit_params(tiny_project, **changes)
    assert _build() == 1
    assert expected in _error_line(capsys)


def test_labels_file_end_to_end(tiny_project, capsys):
    (tiny_project / "data/raw/labels.csv").write_text(
        "symbol,end,label\nAAA_1d,2001-03-05,up\nBBB_1d,2001-06-01,down\nAAA_1d,2003-06-19,neutral\n"
    )
    _edit_params(tiny_project, labels="file", labels_file="raw/labels.csv")
    assert _build() == 0
    table = pd.read_parquet(tiny_project / LABELED / "windows.parquet")
    # No build_windows.classes: the file's names in first-seen order are the classes.
    assert table["label"].tolist() == [0, 2, 1]
    assert table["end"].dt.strftime("%Y-%m-%d").tolist() == ["2001-03-05", "2003-06-19", "2001-06-01"]
    assert (table["t1"] == table["end"]).all()  # hand labels look at nothing after the window
    meta = json.loads((tiny_project / LABELED / "meta.json").read_text())
    assert meta["label_method"] == "file" and meta["class_names"] == ["up", "down", "neutral"]
    assert meta["class_counts"] == {"up": 1, "down": 1, "neutral": 1}
    manifest = json.loads((tiny_project / LABELED / "manifest.json").read_text())
    assert manifest["labels_file"]["sha256"] == sha256_file(tiny_project / "data/raw/labels.csv")


def test_labels_file_error_reaches_the_cli(tiny_project, capsys):
    (tiny_project / "data/raw/labels.csv").write_text(
        "symbol,end,label\nAAA_1d,2001-03-05,up\nCCC_1d,2001-03-05,down\n"
    )
    _edit_params(tiny_project, labels="file", labels_file="raw/labels.csv")
    assert _build() == 1
    assert "labels.csv, line 3: unknown symbol 'CCC_1d'" in _error_line(capsys)


def test_stage_module_imports_no_heavy_library():
    code = (
        "import sys, moola.stages.build_windows\n"
        "print(','.join(m for m in ('numpy', 'pandas', 'torch', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_max_gap_drops_windows_across_a_gap(tiny_project, capsys):
    path = tiny_project / "data/raw/AAA_1d.parquet"
    frame = pd.read_parquet(path)
    frame.drop(index=range(300, 310)).to_parquet(path, index=False)  # an 11-day step after 2001-10-27
    gap_after = frame.loc[299, "timestamp"]
    _edit_params(tiny_project, max_gap="2D")
    assert _build() == 0
    assert "dropped by max_gap" in capsys.readouterr().out
    for folder, horizon_days in ((LABELED, 10), (UNLABELED, 0)):
        table = pd.read_parquet(tiny_project / folder / "windows.parquet")
        aaa = table[table["symbol"] == "AAA_1d"]
        # A kept window (and a labeled one's horizon) lies wholly before or wholly after the gap.
        reach = aaa["end"] + pd.Timedelta(days=horizon_days)
        assert ((reach <= gap_after) | (aaa["start"] > gap_after)).all()
        dropped = json.loads((tiny_project / folder / "manifest.json").read_text())["dropped"]["max_gap"]
        assert dropped > 0
    unlabeled = pd.read_parquet(tiny_project / UNLABELED / "windows.parquet")
    assert (unlabeled["symbol"] == "BBB_1d").sum() == len(range(0, 900 - 64 + 1, 8))  # BBB_1d has no gap


# --- the researcher's own data: monthly 1-minute files, session gaps, binary hand labels -------


@pytest.fixture
def intraday_project(tiny_project):
    from intraday_fixture import write_intraday_data

    written = write_intraday_data(tiny_project / "data", months=2, n_labels=40)
    for name in ("AAA_1d", "BBB_1d"):
        (tiny_project / f"data/raw/{name}.parquet").unlink()
    _edit_params(tiny_project, **written["build_windows"], unlabeled_stride=4, plot_examples=2)
    return tiny_project, written


def test_intraday_files_with_gaps_and_hand_labels(intraday_project, capsys):
    root, written = intraday_project
    assert _build() == 0
    out = capsys.readouterr().out
    assert "1 symbols" in out and "NQ_1m" in out and "(2 files)" in out and "dropped by max_gap" in out
    labeled, unlabeled = root / LABELED, root / UNLABELED
    meta = json.loads((labeled / "meta.json").read_text())
    assert meta["class_names"] == ["consolidation", "retracement"] and meta["T"] == 105
    assert sum(meta["class_counts"].values()) == 40 == meta["n"]
    table = pd.read_parquet(labeled / "windows.parquet")
    assert (table["t1"] == table["end"]).all()
    assert table["source"].str.startswith("NQ_1m_2021-0").all() and table["symbol"].eq("NQ_1m").all()
    rows = sorted(written["labels_rows"], key=lambda r: r["end"])
    first_span = rows[0]["span_start"]
    expected = first_span if isinstance(first_span, int) else None
    if expected is not None:
        assert table["span_start"].iloc[0] == expected
    assert ((table["span_start"] >= 0) & (table["span_start"] <= table["span_end"]) & (table["span_end"] < 105)).all()
    assert set(table["quality"]) <= {"A", "B", "C", "D"}

    unlabeled_table = pd.read_parquet(unlabeled / "windows.parquet")
    steps = [pd.read_parquet(root / "data/raw" / name)["timestamp"].diff().max() for name in written["files"]]
    assert min(steps) > pd.Timedelta("2D")  # the data does have nightly and weekend gaps
    # No kept unlabeled window spans more than one session: 105 one-minute bars take 104 minutes.
    span = (unlabeled_table["end"] - unlabeled_table["start"]).dt.total_seconds()
    assert (span == 104 * 60).all()
    manifest = json.loads((unlabeled / "manifest.json").read_text())
    assert manifest["dropped"]["max_gap"] > 0
    assert [source["file"] for source in manifest["sources"]] == written["files"]
    x = np.load(unlabeled / "X_ohlc.npy", mmap_mode="r")
    assert x.shape == (len(unlabeled_table), 105, 4) and x.dtype == np.float32
    assert json.loads((unlabeled / "meta.json").read_text())["files"]["X_ohlc.npy"] == sha256_file(
        unlabeled / "X_ohlc.npy"
    )


def test_min_quality_drops_and_counts(intraday_project):
    root, written = intraday_project
    _edit_params(root, min_quality="B")
    assert _build() == 0
    grades = [row["quality"] for row in written["labels_rows"]]
    table = pd.read_parquet(root / LABELED / "windows.parquet")
    assert len(table) == sum(g in "AB" for g in grades) and set(table["quality"]) <= {"A", "B"}
    manifest = json.loads((root / LABELED / "manifest.json").read_text())
    dropped = manifest["labels_file"]["dropped_by_min_quality"]
    assert dropped == {g: grades.count(g) for g in ("C", "D") if grades.count(g)}
    assert manifest["dropped"] == {"min_quality": sum(dropped.values())}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("unknown class", "line 2: unknown class 'breakout': the classes are consolidation, retracement"),
        ("fewer than two classes", "every row has the class 'consolidation'"),
        ("span outside the window", "line 2: span_end '105' lies outside the window"),
        ("start disagrees", "disagrees with the window length: the 105-bar window"),
        ("unknown grade", "line 2: unknown quality grade 'Z'"),
        ("labeled window across a gap", "straddles a gap of"),
        ("overlapping raw files", "overlap"),
        ("year 2300", "outside the nanosecond range"),
        ("price 1e308", "finite as float32"),
    ],
)
def test_hostile_own_data_is_refused_with_nothing_changed(intraday_project, capsys, case, expected):
    root, written = intraday_project
    assert _build() == 0
    before = _hashes(root, LABELED, UNLABELED)
    _edit_params(root, version="v2")
    labels_path = root / "data/raw/labels.csv"
    labels = pd.read_csv(labels_path)
    raw = root / "data/raw" / written["files"][0]
    if case == "unknown class":
        labels.loc[0, "label"] = "breakout"
    elif case == "fewer than two classes":
        labels["label"] = "consolidation"
        _edit_params(root, classes=[])
    elif case == "span outside the window":
        labels.loc[0, ["span_start", "span_end"]] = ["3", "105"]
    elif case == "start disagrees":
        labels.loc[3, "start"] = labels.loc[4, "start"]
    elif case == "unknown grade":
        labels.loc[0, "quality"] = "Z"
    elif case == "labeled window across a gap":
        stamps = pd.read_parquet(raw)["timestamp"]
        labels.loc[0, ["end", "start"]] = [stamps.iloc[400].isoformat(), ""]  # 11 bars into the second session
        labels.loc[0, ["span_start", "span_end"]] = ["0", "1"]
    elif case == "overlapping raw files":
        frame = pd.read_parquet(raw)
        frame.iloc[-50:].to_parquet(root / "data/raw" / "NQ_1m_2021-01b.parquet", index=False)
    elif case == "year 2300":
        frame = pd.read_parquet(raw)
        frame["timestamp"] = frame["timestamp"].astype("datetime64[us, UTC]")
        frame.loc[len(frame) - 1, "timestamp"] = pd.Timestamp("2300-01-01", tz="UTC")
        frame.to_parquet(root / "data/raw" / "NQ_1m_2299-12.parquet", index=False)
    elif case == "price 1e308":
        frame = pd.read_parquet(raw)
        frame.loc[5, ["open", "high", "low", "close"]] = 1e308
        frame.to_parquet(raw, index=False)
    labels.to_csv(labels_path, index=False)
    capsys.readouterr()
    assert _build() == 1
    assert expected in _error_line(capsys)
    assert _hashes(root, LABELED, UNLABELED) == before
    assert not (root / "data/labeled_windows/v2").exists() and not (root / "data/unlabeled_windows/v2").exists()


def test_streamed_arrays_equal_np_save_and_the_in_memory_fingerprint(tmp_path):
    from moola.artifacts.windows import stream_arrays
    from moola.data.raw import validate_ohlc_frame
    from moola.data.windows import fingerprint_of, unlabeled_windows

    frame = make_ohlc_frame(5000, seed=3)
    series = [validate_ohlc_frame(frame, "x.parquet", "X_1d", "x.parquet", 64)]
    plan = unlabeled_windows(series, 64, 1)  # 4,937 windows: several chunks of CHUNK_WINDOWS
    in_memory = plan.materialise()
    digests, file_sums = stream_arrays(tmp_path, plan.shapes(), plan.chunks(3))
    for name, array in in_memory.arrays().items():
        np.save(tmp_path / f"saved_{name}", array)
        assert (tmp_path / name).read_bytes() == (tmp_path / f"saved_{name}").read_bytes()
        assert file_sums[name] == sha256_file(tmp_path / name)
    assert fingerprint_of(digests, plan.windows) == window_fingerprint(in_memory)
