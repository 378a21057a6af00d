"""Synthetic cache: augmentations keep OHLC consistent, rows come from train only, KS recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fake_labeled import enter_project, fake_windows, set_params

from moola import cli
from moola.data import synth
from moola.data.features import FEATURE_NAMES, compute_features

CACHE = "v1_temporal_q0.9_r0.5"


def _assert_consistent(ohlc):
    open_, high, low, close = (ohlc[..., k] for k in range(4))
    assert np.isfinite(ohlc).all()
    assert (low > 0).all()
    assert (high >= np.maximum(open_, close)).all()
    assert (low <= np.minimum(open_, close)).all()
    assert (close[:, 0] == 1.0).all()  # still divided by the first close


@pytest.fixture(scope="module")
def windows():
    ohlc, feats, y, _frame = fake_windows(per_symbol=6, seed=5)
    return ohlc, feats, y


def test_decompose_then_compose_gives_the_window_back(windows):
    ohlc = windows[0]
    rebuilt = synth.compose_bars(*synth.decompose_bars(ohlc))
    np.testing.assert_allclose(rebuilt, ohlc, rtol=2e-6)


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_every_augmentation_keeps_ohlc_consistent_even_when_extreme(windows, sigma):
    parts = synth.decompose_bars(windows[0])
    rng = np.random.default_rng(0)
    partner = tuple(values[::-1] for values in parts)
    results = {
        "jitter": synth.jitter(parts, rng, sigma),
        "magnitude_warp": synth.magnitude_warp(parts, rng, sigma, 4),
        "time_warp": synth.time_warp(parts, rng, sigma, 4),
        "mixup": synth.mixup(parts, partner, rng.uniform(0, 1, parts[0].shape[0])),
    }
    for method, result in results.items():
        ohlc = synth.compose_bars(*result)
        _assert_consistent(ohlc)
        assert not np.allclose(ohlc, windows[0]), method


def test_augmented_bars_take_their_shape_from_one_parent_bar(windows):
    parts = synth.decompose_bars(windows[0])
    shapes = np.stack(parts[1:], axis=-1)  # (N, T, 3): open gap, upper and lower wick
    rng = np.random.default_rng(1)
    warped = np.stack(synth.time_warp(parts, rng, 0.5, 4)[1:], axis=-1)
    for row in range(len(shapes)):  # every warped bar is one whole bar of its window, never a blend
        same = (warped[row][:, None, :] == shapes[row][None, :, :]).all(axis=-1)  # (T, T)
        assert same.any(axis=1).all()
    mixed = synth.mixup(parts, tuple(values[::-1] for values in parts), np.full(len(shapes), 0.6))
    np.testing.assert_array_equal(np.stack(mixed[1:], axis=-1), shapes)  # the parent's bars
    scaled = np.stack(synth.magnitude_warp(parts, rng, 0.5, 4)[1:], axis=-1)
    bars = np.abs(shapes).sum(axis=-1) > 0  # (N, T) bars with a body or a wick

    def shares(values):  # |gap|, upper, lower wick as fractions of the bar's log range
        return np.abs(values)[bars] / np.abs(values)[bars].sum(axis=-1, keepdims=True)

    np.testing.assert_allclose(shares(scaled), shares(shapes), rtol=1e-9)  # one factor per bar


def test_zero_strength_augmentations_change_nothing(windows):
    parts = synth.decompose_bars(windows[0])
    rng = np.random.default_rng(0)
    for result in (
        synth.jitter(parts, rng, 0.0),
        synth.magnitude_warp(parts, rng, 0.0, 4),
        synth.time_warp(parts, rng, 0.0, 4),
    ):
        np.testing.assert_allclose(synth.compose_bars(*result), windows[0], rtol=2e-6)


def test_generate_uses_given_rows_only_mixes_within_class_and_passes_quality(windows):
    ohlc, feats, y = windows
    train_index = np.arange(100, 100 + len(y))  # pretend these are labeled rows 100..
    settings = synth.AugmentationSettings(ratio=2.0, quality=0.8, mixup_alpha=1.0, seed=3)
    made = synth.generate_synthetic(ohlc, feats, y, train_index, settings, FEATURE_NAMES, compute_features)
    n = int(round(2.0 * len(y)))
    assert made.ohlc.shape == (n, ohlc.shape[1], 4) and made.feats.shape == (n, 20) and made.y.shape == (n,)
    _assert_consistent(made.ohlc)
    prov = made.provenance
    assert set(prov["parent_index"]) <= set(train_index.tolist())
    assert set(prov["method"]) == {"jitter", "magnitude_warp", "time_warp", "mixup"}
    local = prov["parent_index"].to_numpy() - 100
    np.testing.assert_array_equal(made.y, y[local])
    mixed = prov[prov["method"] == "mixup"]
    assert (mixed["mix_parent"] >= 100).all() and (mixed["mix_parent"] != mixed["parent_index"]).all()
    np.testing.assert_array_equal(y[mixed["mix_parent"].to_numpy() - 100], y[mixed["parent_index"].to_numpy() - 100])
    assert (mixed["mix_weight"] >= 0.5).all()
    assert (prov.loc[prov["method"] != "mixup", "mix_parent"] == -1).all()
    # features are today's compute_features of the synthetic bars; volume comes from the parent
    recomputed = compute_features(*(made.ohlc[..., k].astype(np.float64) for k in range(4))).astype(np.float32)
    volume = FEATURE_NAMES.index("volume_zscore5")
    others = [j for j in range(20) if j != volume]
    np.testing.assert_array_equal(made.feats[:, others], recomputed[:, others])
    np.testing.assert_array_equal(made.feats[:, volume], feats[local, volume])
    # the quality rule: every kept row lies within the q-quantile of the real rows' distances
    threshold = np.quantile(synth.standardised_distance(feats, feats), 0.8)
    assert (synth.standardised_distance(made.feats, feats) <= threshold + 1e-6).all()
    assert made.stats["n_candidates"] >= n and made.stats["quality_threshold"] == pytest.approx(threshold, abs=1e-5)
    again = synth.generate_synthetic(ohlc, feats, y, train_index, settings, FEATURE_NAMES, compute_features)
    np.testing.assert_array_equal(again.ohlc, made.ohlc)


def test_simes_combination_by_hand():
    assert synth.simes_combination([0.01, 0.04, 0.5]) == pytest.approx(0.03)  # min(0.03, 0.06, 0.5)
    assert synth.simes_combination([0.9, 0.8]) == pytest.approx(0.9)
    assert synth.simes_combination([0.001] * 20) == pytest.approx(0.001)


def test_ks_report_never_compares_a_synthetic_row_with_its_parents():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 2))
    real_rows = np.arange(100, 140)  # halves: even rows 100, 102, .. and odd rows 101, 103, ..
    # Exact copies of their parents: tested against the parents themselves, KS would see no difference.
    parents = np.stack([real_rows, np.full(40, -1)], axis=1)
    report, _ = synth.ks_report(real, real_rows, real.copy(), parents, ["a", "b"])
    assert 0 < report["a"]["statistic"] < 1  # against the parents themselves it would be exactly 0
    shifted = real + 3.0  # a generator far from the real rows is refused whatever its parents
    assert synth.ks_report(real, real_rows, shifted, parents, ["a", "b"])[1] < 1e-4
    # A synthetic row whose mixup partner lies in a half is not tested against that half.
    one = np.array([[101, 100]])  # parent in the odd half, partner in the even half
    report, pvalue = synth.ks_report(real, real_rows, real[:1] + 50.0, one, ["a", "b"])
    assert report["a"] == {"statistic": 0.0, "pvalue": 1.0} and pvalue == 1.0
    # Ten children of one parent count once: a cluster is one observation, not ten.
    clustered = np.repeat(real[:1] + 50.0, 10, axis=0)
    report, _ = synth.ks_report(real, real_rows, clustered, np.repeat([[100, -1]], 10, axis=0), ["a", "b"])
    assert report["a"]["statistic"] == 1.0 and report["a"]["pvalue"] > 0.05  # one synthetic row: little evidence
    from scipy.stats import ks_2samp

    assert ks_2samp(real[1::2, 0], clustered[:, 0]).pvalue < 1e-4  # ten copies read as ten rows would refuse


def test_combined_ks_pval_is_simes_over_every_fold_and_feature():
    records = [
        {"fold": 0, "ks": {"a": {"pvalue": 0.01}, "b": {"pvalue": 0.5}}},
        {"fold": 1, "ks": {"a": {"pvalue": 0.04}, "b": {"pvalue": 0.9}}},
    ]
    assert synth.combined_ks_pval(records) == pytest.approx(synth.simes_combination([0.01, 0.5, 0.04, 0.9]))
    assert synth.combined_ks_pval(records) == pytest.approx(0.04)  # min(4 * 0.01, 2 * 0.04, ...)
    assert synth.simes_rejected(records, 0.1) == [(0, "a", 0.01), (1, "a", 0.04)]
    assert synth.simes_rejected(records, 0.02) == []


def _resampled_null_refusals(seeds: range, alpha: float) -> int:
    """Refusals of the guard when each fold's synthetic rows are real held-out rows drawn with replacement."""
    feats = fake_windows(per_symbol=30, seed=2)[1].astype(np.float64)  # (n, 20) real windows
    names = [f"f{j}" for j in range(feats.shape[1])]
    refused = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        records = []
        for fold, n_train in enumerate((20, 28, 36)):
            order = rng.permutation(len(feats))
            train, held_out = order[:n_train], order[n_train:]
            parents = rng.choice(held_out, size=n_train // 2)  # synthetic rows are copies of their parents
            ks, _ = synth.ks_report(
                feats[train], train, feats[parents], np.stack([parents, -np.ones_like(parents)], 1), names
            )
            records.append({"fold": fold, "ks": ks})
        refused += synth.combined_ks_pval(records) < alpha
    return refused


def test_guard_refuses_a_same_distribution_generator_at_most_alpha_of_the_time():
    from scipy.stats import binomtest

    runs = 150
    refused = _resampled_null_refusals(range(runs), 0.1)
    # one-sided: a true rate of 10% or less would show this many refusals with probability > 1%
    assert binomtest(refused, runs, 0.1, alternative="greater").pvalue > 0.01, refused


def test_intraday_minute_bars_with_session_gaps_pass_the_guard_in_every_fold(tiny_project, capsys):
    import yaml
    from intraday_fixture import write_intraday_data

    written = write_intraday_data(tiny_project / "data", months=3, n_labels=150)
    for name in ("AAA_1d", "BBB_1d"):
        (tiny_project / f"data/raw/{name}.parquet").unlink()
    set_params(tiny_project, "build_windows", **written["build_windows"], unlabeled_stride=50, plot_examples=0)
    for command in (["build-windows"], ["make-splits"], ["synth-cache"]):
        assert cli.main(command) == 0, capsys.readouterr().err
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    meta = json.loads((tiny_project / "data/synthetic_cache" / params["train"]["synthetic"] / "meta.json").read_text())
    assert meta["ks_pval"] >= 0.1 and synth.simes_rejected(meta["folds"], 0.1) == []  # no fold, no feature refused
    assert all(record["ks"]["body_ratio"]["pvalue"] >= 0.1 for record in meta["folds"])  # the culprit


def test_cache_name_writes_numbers_as_params_do():
    assert synth.cache_name("v1", "temporal", 0.9, 0.5) == "v1_temporal_q0.9_r0.5"
    assert synth.cache_name("v2", "temporal", 1, 2) == "v2_temporal_q1_r2"


# ----- the stage -----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = enter_project(tmp_path, monkeypatch)
    assert cli.main(["make-splits"]) == 0
    return root


def test_synth_cache_stage_writes_a_train_only_cache_with_ks(project, capsys):
    assert cli.main(["synth-cache"]) == 0
    folder = project / "data" / "synthetic_cache" / CACHE
    meta = json.loads((folder / "meta.json").read_text())
    split = json.loads((project / "data" / "splits" / "fwd_chain_v3.json").read_text())
    for key in (
        "name",
        "labeled_version",
        "labeled_fingerprint",
        "split_name",
        "split_sha256",
        "n",
        "ratio",
        "quality",
        "ks",
        "ks_pval",
        "ks_pval_rule",
        "fingerprint",
        "files",
    ):
        assert key in meta, key
    assert meta["n"] == round(0.5 * len(split["train_indices"]))
    assert set(meta["ks"]) == set(FEATURE_NAMES)
    assert all(set(v) == {"statistic", "pvalue"} and 0 <= v["pvalue"] <= 1 for v in meta["ks"].values())
    assert meta["ks_pval"] == synth.combined_ks_pval(meta["folds"])
    assert meta["folds"][-1]["ks"] == meta["ks"]
    assert meta["ks_pval"] >= 0.1  # the training guard's default threshold
    config = json.loads((folder / "augmentation_config.json").read_text())
    assert config["seed"] == 1337 and config["jitter_sigma"] == 0.03 and config["mixup_alpha"] == 0.2
    prov = pd.read_parquet(folder / "provenance.parquet")
    assert set(prov["parent_index"]) <= set(split["train_indices"])
    assert not set(prov["parent_index"]) & set(split["val_indices"] + split["test_indices"] + split["purged_indices"])
    mixed = prov.loc[prov["mix_parent"] >= 0, "mix_parent"]
    assert set(mixed) <= set(split["train_indices"])
    ohlc = np.load(folder / "X_ohlc.npy")
    _assert_consistent(ohlc)
    labeled = np.load(project / "data" / "labeled_windows" / "v1" / "X_ohlc.npy")
    held_out = {synth.window_content_sha256(labeled[row]) for row in split["val_indices"] + split["test_indices"]}
    assert not held_out & set(prov["content_sha256"])
    assert f"wrote data/synthetic_cache/{CACHE}" in capsys.readouterr().out


def test_synth_cache_is_byte_identical_and_refuses_a_different_rewrite(project, capsys):
    assert cli.main(["synth-cache"]) == 0
    folder = project / "data" / "synthetic_cache" / CACHE
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert cli.main(["synth-cache"]) == 0
    assert "left unchanged" in capsys.readouterr().out
    import shutil

    shutil.rmtree(folder)
    assert cli.main(["synth-cache"]) == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first
    set_params(project, "base", seed=7)
    capsys.readouterr()
    assert cli.main(["synth-cache"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already exists with different content" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first


def test_synth_cache_names_follow_params(project):
    set_params(project, "synth_cache", ratio=1, quality=0.95)
    assert cli.main(["synth-cache"]) == 0
    meta = json.loads((project / "data" / "synthetic_cache" / "v1_temporal_q0.95_r1" / "meta.json").read_text())
    split = json.loads((project / "data" / "splits" / "fwd_chain_v3.json").read_text())
    assert meta["n"] == len(split["train_indices"])


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("quality", 0.0, "synth_cache.quality"),
        ("family", "spectral", "synth_cache.family"),
        ("ratio", -1, "synth_cache.ratio"),
    ],
)
def test_synth_cache_params_errors_are_one_line(project, capsys, key, value, expected):
    set_params(project, "synth_cache", **{key: value})
    assert cli.main(["synth-cache"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err


def test_synth_cache_refuses_a_missing_split(project, capsys):
    assert cli.main(["synth-cache", "--split", "nope_v1"]) == 1
    assert "split splits/nope_v1.json not found" in capsys.readouterr().err


def test_synth_cache_refuses_features_from_other_code(project, capsys):
    folder = project / "data" / "labeled_windows" / "v1"
    feats = np.load(folder / "X_feats20.npy")
    feats[:, FEATURE_NAMES.index("rsi14")] += 5.0  # as if RSI had been computed differently
    _reseal(folder, "X_feats20.npy", feats)
    assert cli.main(["make-splits", "--name", "after_change_v1"]) == 0
    assert cli.main(["synth-cache", "--split", "after_change_v1"]) == 1
    assert "feature 'rsi14' differs" in capsys.readouterr().err


def _reseal(folder, file_name, array):
    """Replace one array and update meta.json's hashes, as a rebuild by other code would."""
    from moola import io

    io.save_npy(folder / file_name, array)
    meta = json.loads((folder / "meta.json").read_text())
    meta["files"][file_name] = io.sha256_file(folder / file_name)
    meta["fingerprint"] = "rebuilt-" + meta["files"][file_name][:16]
    io.write_json(folder / "meta.json", meta)


# ----- both stages under DVC, for real --------------------------------------------------------


@pytest.mark.slow
def test_dvc_repro_runs_both_stages_and_keeps_a_cache_from_being_rewritten(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml
    from fake_labeled import write_window_folder

    repo_root = Path(__file__).resolve().parents[2]
    root = tmp_path / "repo"
    root.mkdir()
    env = {
        **os.environ,
        "MOOLA_ROOT": str(root),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    }

    def run(*command):
        return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)

    assert run("git", "init", "-q").returncode == 0
    assert run("dvc", "init", "-q").returncode == 0
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["make_splits"].update(strategy="forward_chaining", train_fraction=0.6)  # 30 fake windows: one fold
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    pipeline = yaml.safe_load((repo_root / "dvc.yaml").read_text())
    stages = {name: pipeline["stages"][name] for name in ("check_params", "make_splits", "synth_cache")}
    for stage in stages.values():  # the package is installed, not part of this repo
        stage["deps"] = [dep for dep in stage["deps"] if not dep.startswith("src/")]
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    write_window_folder(root / "data", "v1", "labeled")

    first = run("dvc", "repro")
    assert first.returncode == 0, first.stdout + first.stderr
    cache = root / "data" / "synthetic_cache" / CACHE
    before = {p.name: p.read_bytes() for p in cache.iterdir()}
    assert (root / "data" / "splits" / "fwd_chain_v3.json").is_file() and "meta.json" in before
    again = run("dvc", "repro")
    assert again.returncode == 0 and "didn't change" in again.stdout

    set_params(root, "base", seed=99)  # forward chaining ignores it; the cache would change
    changed = run("dvc", "repro")
    assert changed.returncode != 0
    assert "already holds this split" in changed.stdout
    assert "already exists with different content" in changed.stdout + changed.stderr
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == before


@pytest.mark.slow
def test_a_failing_cache_stops_dvc_repro_at_synth_cache_before_pretraining(tiny_project):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    repo_root = Path(__file__).resolve().parents[2]
    root = tiny_project
    shutil.copytree(repo_root / "src" / "moola", root / "src" / "moola", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(repo_root / "requirements", root / "requirements")  # build_windows depends on the lock
    # far stronger augmentations than the defaults: this cache fails the KS guard
    set_params(root, "synth_cache", quality=1.0, ratio=3, jitter_sigma=1.0, magnitude_sigma=1.0)
    env = {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
        "DVC_NO_ANALYTICS": "1",
    }

    def run(*command):
        return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)

    git = ("git", "-c", "user.name=t", "-c", "user.email=t@example.org")
    for command in (("git", "init", "-q"), ("dvc", "init", "-q"), (*git, "add", "-A"), (*git, "commit", "-qm", "tiny")):
        assert run(*command).returncode == 0
    result = run("dvc", "repro")
    shown = result.stdout + result.stderr
    assert result.returncode != 0 and "synth_cache" in shown
    assert "< train.min_ks_pval 0.1 (fold " in shown and "synth_cache.quality" in shown
    assert not list((root / "data" / "synthetic_cache").glob("v1_temporal_q1.0_r3*"))
    assert not (root / "artifacts" / "ts2vec").exists() and "Running stage 'pretrain_ts2vec'" not in shown
    import yaml

    locked = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert "make_splits" in locked and "synth_cache" not in locked and "pretrain_ts2vec" not in locked
