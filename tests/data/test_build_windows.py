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

from moola import cli
from moola.data.features import FEATURE_NAMES
from moola.data.windows import window_fingerprint, WindowSet
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
        "X_feats20.npy", "X_ohlc.npy", "manifest.json", "meta.json", "windows.parquet", "y.npy"
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
    assert list(table.columns) == ["id", "symbol", "start", "end", "t1", "label", "source", "start_bar"]
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
        ({"window": 32}, "build_windows.window: = 32 is shorter than the longest feature look-back (momentum_64"),
        ({"labels": "file"}, "build_windows.labels_file: is empty"),
        ({"raw_files": ["../secret.parquet"]}, "contains '..'"),
        ({"vol_span": 64}, "build_windows.vol_span"),
        ({"version": "a/b"}, "build_windows.version"),
        ({"horizon": 900}, "no labeled window"),
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
    assert table["label"].tolist() == [2, 1, 0]
    assert table["end"].dt.strftime("%Y-%m-%d").tolist() == ["2001-03-05", "2003-06-19", "2001-06-01"]
    assert table["t1"].iloc[1] == table["end"].iloc[1]  # the last bar: no bars after it
    meta = json.loads((tiny_project / LABELED / "meta.json").read_text())
    assert meta["label_method"] == "file" and meta["class_counts"] == {"down": 1, "neutral": 1, "up": 1}
    manifest = json.loads((tiny_project / LABELED / "manifest.json").read_text())
    assert manifest["labels_file"]["sha256"] == sha256_file(tiny_project / "data/raw/labels.csv")


def test_labels_file_error_reaches_the_cli(tiny_project, capsys):
    (tiny_project / "data/raw/labels.csv").write_text("symbol,end,label\nAAA_1d,2001-03-05,up\nCCC_1d,2001-03-05,up\n")
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
