"""DataRegistry: loads what it can prove, refuses tampered splits, foreign caches and path escapes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fake_labeled import enter_project, write_window_folder

from moola import cli, io
from moola.data.registry import DataRegistry
from moola.errors import MoolaError

CACHE = "v1_temporal_q0.9_r0.5"


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = enter_project(tmp_path, monkeypatch)
    assert cli.main(["make-splits"]) == 0
    assert cli.main(["synth-cache"]) == 0
    return root


def _split_path(project, name="fwd_chain_v3"):
    return project / "data" / "splits" / f"{name}.json"


def _tamper_split(project, change):
    path = _split_path(project)
    split = json.loads(path.read_text())
    change(split)
    io.write_json(path, split)


def _reseal(folder, **replacements):
    """Write replacement files into a folder and update meta.json's hashes to match."""
    meta = json.loads((folder / "meta.json").read_text())
    for name, value in replacements.items():
        path = folder / name
        if isinstance(value, pd.DataFrame):
            io.write_parquet(path, value)
        else:
            io.save_npy(path, value)
        meta["files"][name] = io.sha256_file(path)
    io.write_json(folder / "meta.json", meta)


# ----- what a good load gives ----------------------------------------------------------------


def test_default_load_gives_the_split_parts_and_an_audit(project):
    data = DataRegistry().load_labeled()
    split = json.loads(_split_path(project).read_text())
    labeled = np.load(project / "data" / "labeled_windows" / "v1" / "X_ohlc.npy")
    for part in ("train", "val", "test"):
        got = getattr(data, part)
        np.testing.assert_array_equal(got.index, split[f"{part}_indices"])
        np.testing.assert_array_equal(got.ohlc, labeled[split[f"{part}_indices"]])
        assert got.feats.shape == (len(split[f"{part}_indices"]), 20) and got.y.dtype == np.int64
        assert not got.is_synthetic.any() and np.array_equal(got.parent, got.index)
        assert len(got.ids) == len(got) and "@" in got.ids[0]
    assert data.class_names == ["down", "neutral", "up"]
    assert data.synthetic_meta is None and data.paths["synthetic"] is None
    audit = data.audit
    assert audit["n_real_train"] == len(split["train_indices"]) and audit["n_synthetic_train"] == 0
    assert audit["val_synthetic"] == 0 and audit["test_synthetic"] == 0
    assert audit["split_strategy"] == "forward_chaining" and audit["split_sha256"] == io.sha256_file(
        _split_path(project)
    )
    assert audit["labeled_fingerprint"] == data.meta["fingerprint"]


def test_synthetic_rows_join_train_only_with_their_parents(project):
    data = DataRegistry().load_labeled(
        "labeled_windows/v1",
        "splits/fwd_chain_v3.json",
        include_synthetic=True,
        synthetic_version=f"synthetic_cache/{CACHE}",
    )
    train, split = data.train, data.split
    n_real = len(split["train_indices"])
    assert train.is_synthetic.sum() == data.audit["n_synthetic_train"] == data.synthetic_meta["n"]
    assert (train.index[train.is_synthetic] == -1).all()
    assert set(train.parent[train.is_synthetic]) <= set(split["train_indices"])
    assert data.audit["synthetic_ratio"] == pytest.approx(data.synthetic_meta["n"] / n_real)
    assert data.audit["val_synthetic"] == 0 and data.audit["test_synthetic"] == 0
    assert not data.val.is_synthetic.any() and not data.test.is_synthetic.any()
    assert data.audit["ks_pval"] == data.synthetic_meta["ks_pval"]
    assert data.paths["synthetic"].name == CACHE


def test_the_seeds_example_runs_as_written(project):
    from moola.data.registry import DataContainer, DataRegistry

    data = DataRegistry().load_labeled(
        version="v1", split_name="fwd_chain_v3", include_synthetic=True, synthetic_version="v1_temporal_q0.9_r0.5"
    )
    assert data.audit_trail["val_synthetic_count"] == 0
    assert data.audit_trail["test_synthetic_count"] == 0

    assert isinstance(data, DataContainer)
    audit = data.audit_trail
    assert audit["labeled_version"] == "v1" and audit["split"] == "fwd_chain_v3" == audit["split_name"]
    assert audit["synthetic_applied"] is True and audit["synthetic_version"] == CACHE
    assert audit["n_synthetic_train"] == int(data.train.is_synthetic.sum()) > 0
    assert audit["n_real_train"] == int((~data.train.is_synthetic).sum())
    assert audit["synthetic_ratio"] == pytest.approx(audit["n_synthetic_train"] / audit["n_real_train"])
    without = DataRegistry().load_labeled().audit_trail
    assert without["synthetic_applied"] is False and without["n_synthetic_train"] == 0
    assert without["val_synthetic_count"] == without["val_synthetic"] == 0


@pytest.mark.parametrize("version", ["v1", "labeled_windows/v1", "data/labeled_windows/v1", "labeled_windows/v1/"])
@pytest.mark.parametrize(
    "split_name", ["fwd_chain_v3", "splits/fwd_chain_v3", "fwd_chain_v3.json", "splits/fwd_chain_v3.json"]
)
def test_both_name_forms_are_accepted(project, version, split_name):
    data = DataRegistry().load_labeled(version, split_name)
    assert data.audit["labeled_version"] == "v1" and data.audit["split_name"] == "fwd_chain_v3"


def test_load_unlabeled_checks_shapes_and_can_memory_map(project):
    write_window_folder(project / "data", "v1", "unlabeled", per_symbol=5)
    unlabeled = DataRegistry().load_unlabeled("unlabeled_windows/v1", mmap=True, verify=True)
    assert unlabeled.ohlc.shape == (10, 64, 4) and isinstance(unlabeled.ohlc, np.memmap)
    assert len(unlabeled.windows) == 10 and unlabeled.meta["kind"] == "unlabeled"


# ----- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s.update(val_indices=sorted(s["val_indices"] + s["train_indices"][:1])),
            r"row \d+ is in more than one part \(train, val\)",
        ),
        (lambda s: s["test_indices"].append(10_000), "outside the labeled set's rows"),
        (lambda s: s["test_indices"].pop(), "in no part"),
        (lambda s: s["train_indices"].reverse(), "not a sorted list"),
        (lambda s: s.update(labeled_fingerprint="0" * 64), "does not match the labeled set's"),
        (lambda s: s.update(strategy="random"), "'random' is refused"),
        (lambda s: s.update(labeled_version="v0"), "made for labeled_windows/v0"),
        (lambda s: s["counts"].update(train=1), "counts do not match"),
        (lambda s: s.pop("purged_indices"), "missing field"),
    ],
)
def test_tampered_split_is_refused(project, change, message):
    _tamper_split(project, change)
    with pytest.raises(MoolaError, match=message):
        DataRegistry().load_labeled()


def test_a_split_moving_a_late_row_into_train_breaks_the_time_guarantee(project):
    def move_first_test_row_to_train(split):
        row = split["test_indices"].pop(0)
        split["train_indices"] = sorted(split["train_indices"] + [row])
        split["counts"] = {k: len(split[f"{k}_indices"]) for k in ("train", "val", "test", "purged", "unused")}

    _tamper_split(project, move_first_test_row_to_train)
    with pytest.raises(MoolaError, match="train row \\d+ overlaps a test span"):
        DataRegistry().load_labeled()


def test_random_split_is_refused_through_the_cli_of_any_consumer(project, capsys):
    _tamper_split(project, lambda s: s.update(strategy="random"))
    assert cli.main(["synth-cache"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "refused" in err and "splits/fwd_chain_v3.json" in err


def test_cache_from_another_split_is_refused(project):
    other = json.loads(_split_path(project).read_text())
    other["name"] = "other_v1"
    io.write_json(_split_path(project, "other_v1"), other)
    with pytest.raises(MoolaError, match="built from split_name 'fwd_chain_v3', not 'other_v1'"):
        DataRegistry().load_labeled("v1", "other_v1", include_synthetic=True, synthetic_version=CACHE)


def test_cache_of_a_rebuilt_split_or_labeled_set_is_refused(project):
    cache_meta = project / "data" / "synthetic_cache" / CACHE / "meta.json"
    meta = json.loads(cache_meta.read_text())
    io.write_json(cache_meta, {**meta, "split_sha256": "f" * 64})
    with pytest.raises(MoolaError, match="built from split_sha256"):
        DataRegistry().load_labeled(include_synthetic=True, synthetic_version=CACHE)
    io.write_json(cache_meta, {**meta, "labeled_fingerprint": "e" * 64})
    with pytest.raises(MoolaError, match="built from labeled_fingerprint"):
        DataRegistry().load_labeled(include_synthetic=True, synthetic_version=CACHE)


def test_cache_whose_parent_is_not_a_train_row_is_refused(project):
    folder = project / "data" / "synthetic_cache" / CACHE
    split = json.loads(_split_path(project).read_text())
    prov = pd.read_parquet(folder / "provenance.parquet")
    prov.loc[0, "parent_index"] = split["test_indices"][0]
    _reseal(folder, **{"provenance.parquet": prov})
    with pytest.raises(MoolaError, match=r"row 0: parent_index .* is not a train row .*\(it is in test\)"):
        DataRegistry().load_labeled(include_synthetic=True, synthetic_version=CACHE)


def test_cache_files_changed_after_building_are_refused(project):
    folder = project / "data" / "synthetic_cache" / CACHE
    ohlc = np.load(folder / "X_ohlc.npy")
    ohlc[0, 5, 1] *= 1.01
    io.save_npy(folder / "X_ohlc.npy", ohlc)
    with pytest.raises(MoolaError, match="X_ohlc.npy does not match its sha256"):
        DataRegistry().load_labeled(include_synthetic=True, synthetic_version=CACHE)
    _reseal(folder, **{"X_ohlc.npy": ohlc})  # hashes updated, but the row no longer matches provenance
    with pytest.raises(MoolaError, match="row 0 does not match its content_sha256"):
        DataRegistry().load_labeled(include_synthetic=True, synthetic_version=CACHE)


def test_labeled_arrays_are_checked_against_meta(project):
    folder = project / "data" / "labeled_windows" / "v1"
    feats = np.load(folder / "X_feats20.npy")
    _reseal(folder, **{"X_feats20.npy": feats[:, :19]})
    with pytest.raises(MoolaError, match=r"X_feats20.npy has shape \(30, 19\) but meta.json implies \(30, 20\)"):
        DataRegistry().load_labeled()
    _reseal(folder, **{"X_feats20.npy": feats.astype(np.float64)})
    with pytest.raises(MoolaError, match="dtype float64, expected float32"):
        DataRegistry().load_labeled()


def test_include_synthetic_needs_a_name(project):
    with pytest.raises(MoolaError, match="no synthetic cache was named"):
        DataRegistry().load_labeled(include_synthetic=True)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.load_labeled("../labeled_windows/v1"), "contains '..'"),
        (lambda r: r.load_labeled("/etc/v1"), "absolute path"),
        (lambda r: r.load_labeled("v1", "../../params.yaml"), "contains '..'"),
        (lambda r: r.load_labeled("v1", "splits/../labeled_windows/v1/meta"), "contains '..'"),
        (lambda r: r.load_labeled("unlabeled_windows/v1"), "not a name under data/labeled_windows/"),
        (lambda r: r.load_labeled(include_synthetic=True, synthetic_version="../labeled_windows/v1"), "contains '..'"),
        (lambda r: r.load_unlabeled("/tmp/x"), "absolute path"),
    ],
)
def test_names_escaping_the_data_root_are_refused(project, call, message):
    with pytest.raises(MoolaError, match=message):
        call(DataRegistry())


def test_missing_things_say_what_to_run(tmp_path):
    registry = DataRegistry(tmp_path)
    with pytest.raises(MoolaError, match="run moola build-windows"):
        registry.load_labeled()
    write_window_folder(tmp_path, "v1", "labeled")
    with pytest.raises(MoolaError, match="run moola make-splits"):
        registry.load_labeled()
