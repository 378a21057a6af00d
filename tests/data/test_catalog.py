"""`moola data`: every version, split and cache in one table, stale ones flagged, missing folders named."""

from __future__ import annotations

import json

import pytest
from fake_labeled import enter_project, write_window_folder

from moola import cli, io


def test_empty_project_says_what_is_missing(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text("base:\n  seed: 1\n")
    monkeypatch.setenv("MOOLA_ROOT", str(tmp_path))
    assert cli.main(["data"]) == 0
    out = capsys.readouterr().out
    assert "no dataset versions, splits or synthetic caches found" in out
    for folder in ("labeled_windows", "unlabeled_windows", "splits", "synthetic_cache"):
        assert f"data/{folder}/ is missing" in out


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = enter_project(tmp_path, monkeypatch)
    write_window_folder(root / "data", "v1", "unlabeled", per_symbol=4)
    assert cli.main(["make-splits"]) == 0
    assert cli.main(["synth-cache"]) == 0
    return root


def test_table_lists_everything_with_shapes_classes_and_lineage(project, capsys):
    capsys.readouterr()
    assert cli.main(["data"]) == 0
    out = capsys.readouterr().out
    meta = json.loads((project / "data" / "labeled_windows" / "v1" / "meta.json").read_text())
    lines = {
        line.split()[1]: line
        for line in out.splitlines()
        if line.split()[:1] and line.split()[0] in ("labeled", "unlabeled", "split", "synthetic")
    }
    labeled = lines["labeled_windows/v1"]
    assert "30x64x4" in labeled and meta["fingerprint"][:12] in labeled and "raw/AAA_1d.parquet" in labeled
    counts = meta["class_counts"]
    assert " ".join(f"{name}:{counts[name]}" for name in meta["class_names"]) in labeled
    assert "8x64x4" in lines["unlabeled_windows/v1"]
    split_line = lines["splits/fwd_chain_v3.json"]
    assert (
        "train 16 / val 4 / test 6 / purged 4" in split_line
        and f"labeled_windows/v1 @ {meta['fingerprint'][:12]}" in split_line
    )
    cache_line = lines["synthetic_cache/v1_temporal_q0.9_r0.5"]
    assert "8x64x4" in cache_line and "splits/fwd_chain_v3.json (train rows)" in cache_line
    assert all(line.rstrip().endswith("ok") for line in lines.values())
    assert "FLAGGED" not in out


def test_json_output_is_machine_readable(project, capsys):
    capsys.readouterr()
    assert cli.main(["data", "--json"]) == 0
    catalog = json.loads(capsys.readouterr().out)
    kinds = [(e["kind"], e["name"], e["version"]) for e in catalog["entries"]]
    assert kinds == [
        ("labeled", "labeled_windows/v1", "v1"),
        ("split", "splits/fwd_chain_v3.json", "v1"),
        ("synthetic", "synthetic_cache/v1_temporal_q0.9_r0.5", "v1"),
        ("unlabeled", "unlabeled_windows/v1", "v1"),
    ]
    assert catalog["missing"] == [] and all(e["problems"] == [] for e in catalog["entries"])


def test_split_and_cache_of_a_changed_version_are_flagged(project, capsys):
    meta_path = project / "data" / "labeled_windows" / "v1" / "meta.json"
    meta = json.loads(meta_path.read_text())
    io.write_json(meta_path, {**meta, "fingerprint": "a" * 64})  # as if v1 had been rebuilt
    capsys.readouterr()
    assert cli.main(["data", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    assert any(
        "does not match the labeled set's aaaaaaaaaaaa" in p for p in entries["splits/fwd_chain_v3.json"]["problems"]
    )
    assert any(
        "built from labeled_fingerprint" in p for p in entries["synthetic_cache/v1_temporal_q0.9_r0.5"]["problems"]
    )
    assert cli.main(["data"]) == 0
    assert "2 entries are FLAGGED" in capsys.readouterr().out


def test_orphans_and_unreadable_files_are_flagged_not_fatal(project, capsys):
    import shutil

    shutil.rmtree(project / "data" / "labeled_windows" / "v1")
    (project / "data" / "splits" / "broken.json").write_text("{not json")
    capsys.readouterr()
    assert cli.main(["data", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    assert entries["splits/fwd_chain_v3.json"]["problems"] == ["its labeled version labeled_windows/v1 is missing"]
    assert "labeled_windows/v1 is missing" in entries["synthetic_cache/v1_temporal_q0.9_r0.5"]["problems"][0]
    assert "unreadable" in entries["splits/broken.json"]["problems"][0]
