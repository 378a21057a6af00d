"""Atomic writes: a failure mid-write leaves the previous file or folder untouched."""

from __future__ import annotations

import numpy as np
import pytest

from moola import io
from moola.errors import MoolaError


def test_write_json_is_canonical_and_byte_identical(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    io.write_json(a, {"b": 1, "a": [1.5, "x"]})
    io.write_json(b, {"a": [1.5, "x"], "b": 1})
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().endswith("\n")


def test_write_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError):
        io.write_json(tmp_path / "x.json", {"v": float("nan")})
    assert not list(tmp_path.iterdir()), "a refused write must leave nothing behind"


def test_atomic_file_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    io.write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with io.atomic_file(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_directory_replaces_whole_folder_or_nothing(tmp_path):
    folder = tmp_path / "v1"
    with io.atomic_directory(folder) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with io.atomic_directory(folder) as tmp:
            (tmp / "a.txt").write_text("second")
            raise RuntimeError("killed")
    assert (folder / "a.txt").read_text() == "first"
    with io.atomic_directory(folder) as tmp:
        (tmp / "b.txt").write_text("third")
    assert sorted(p.name for p in folder.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]


def test_atomic_directory_removes_stale_temporaries(tmp_path):
    stale = tmp_path / ".v1.tmp-dead"
    stale.mkdir()
    (stale / "junk").write_text("x")
    with io.atomic_directory(tmp_path / "v1") as tmp:
        (tmp / "a").write_text("a")
    assert not stale.exists()


def test_npy_round_trip_and_corrupt_file_is_one_line_error(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    io.save_npy(tmp_path / "a.npy", arr)
    np.testing.assert_array_equal(io.load_npy(tmp_path / "a.npy"), arr)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(MoolaError, match="bad.npy"):
        io.load_npy(tmp_path / "bad.npy")
    with pytest.raises(MoolaError, match="not found"):
        io.load_npy(tmp_path / "missing.npy")


def test_read_json_errors_name_the_file(tmp_path):
    bad = tmp_path / "split.json"
    bad.write_text("{not json")
    with pytest.raises(MoolaError, match="split.json"):
        io.read_json(bad, "split file")


def test_hashes_depend_on_content_only(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "x.txt").write_text("same")
    assert io.sha256_tree(one) == io.sha256_tree(two)
    (two / "x.txt").write_text("changed")
    assert io.sha256_tree(one) != io.sha256_tree(two)
    a = np.zeros((2, 3), np.float32)
    assert io.sha256_array(a) != io.sha256_array(a.astype(np.float64))
    assert io.sha256_array(a) != io.sha256_array(a.reshape(3, 2))
