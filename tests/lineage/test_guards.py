"""Each guard refuses a crafted bad input with one line; the train stage writes nothing then."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from moola import cli
from moola.data.registry import Part
from moola.lineage import guards
from moola.lineage.load_report import compare_state_dicts

T = 8


def _part(rows: list[int], rng, synthetic: bool = False) -> Part:
    n = len(rows)
    return Part(
        ohlc=rng.normal(1.0, 0.01, size=(n, T, 4)).astype(np.float32),
        feats=rng.normal(size=(n, 20)).astype(np.float32),
        y=np.arange(n, dtype=np.int64) % 3,
        index=np.full(n, -1, dtype=np.int64) if synthetic else np.asarray(rows, dtype=np.int64),
        parent=np.asarray(rows, dtype=np.int64),
        is_synthetic=np.full(n, synthetic),
        ids=[f"row{r}" for r in rows],
    )


def _concat(a: Part, b: Part) -> Part:
    return Part(
        *(
            np.concatenate([getattr(a, f), getattr(b, f)])
            for f in ("ohlc", "feats", "y", "index", "parent", "is_synthetic")
        ),
        ids=a.ids + b.ids,
    )


@pytest.fixture
def good_data():
    """A crafted LabeledData look-alike: 6 real train rows + 3 synthetic, 3 val, 3 test."""
    rng = np.random.default_rng(0)
    train = _concat(_part([0, 1, 2, 3, 4, 5], rng), _part([0, 2, 4], rng, synthetic=True))
    meta = {"version": "v1", "fingerprint": "f" * 64, "n": 12}
    starts = pd.date_range("2020-01-01", periods=12, freq="10D", tz="UTC")
    windows = pd.DataFrame({"start": starts, "t1": starts + pd.Timedelta("1D")})
    parts = {"train": list(range(6)), "val": [6, 7, 8], "test": [9, 10, 11], "purged": [], "unused": []}
    counts = {part: len(rows) for part, rows in parts.items()}
    fold = {"index": 0, **{f"{part}_indices": rows for part, rows in parts.items()}, "counts": counts}
    split = {
        "name": "fwd",
        "strategy": "forward_chaining",
        "labeled_version": "v1",
        "labeled_fingerprint": "f" * 64,
        "time_ordered": True,
        "purge": True,
        "purge_days": 0.0,
        "embargo": "0D",
        **{f"{part}_indices": rows for part, rows in parts.items()},
        "counts": counts,
        "n_folds": 1,
        "folds": [fold],
        "time_ranges": {},
        "created_by": "test",
        "timestamp": "t",
    }
    synthetic_meta = {
        "name": "v1_temporal_q0.9_r0.5",
        "labeled_version": "v1",
        "labeled_fingerprint": "f" * 64,
        "split_name": "fwd",
        "split_sha256": "s" * 64,
        "ks_pval": 0.5,
    }
    return SimpleNamespace(
        train=train,
        val=_part([6, 7, 8], rng),
        test=_part([9, 10, 11], rng),
        meta=meta,
        split=split,
        synthetic_meta=synthetic_meta,
        audit={"split_sha256": "s" * 64},
        paths={"synthetic": None},
        windows=windows,
    )


def _check(data, **overrides):
    kwargs = dict(
        model_name="enhanced_simple_lstm",
        pretrain_use="optional",
        min_ks_pval=0.1,
        min_pretrained_match=0.8,
        encoder_path=None,
        load_report=None,
    )
    kwargs.update(overrides)
    return guards.check_before_training(data, **kwargs)


def _refused(data, match: str, **overrides):
    with pytest.raises(guards.GuardRefused, match=match) as caught:
        _check(data, **overrides)
    assert "\n" not in str(caught.value)


def test_good_data_passes_and_lists_claims(good_data):
    claims = _check(good_data)
    assert any("not random" in c for c in claims) and any("no synthetic row" in c for c in claims)


def test_random_split_refused(good_data):
    good_data.split["strategy"] = "random"
    _refused(good_data, "random split put near-copies")


def test_split_of_another_labeled_version_refused(good_data):
    good_data.split["labeled_version"] = "v0"
    _refused(good_data, "made for labeled_windows/v0")


def test_split_of_other_contents_refused(good_data):
    good_data.split["labeled_fingerprint"] = "0" * 64
    _refused(good_data, "does not match the labeled set")


def test_synthetic_cache_of_another_version_refused(good_data):
    good_data.synthetic_meta["labeled_fingerprint"] = "0" * 64
    _refused(good_data, "synthetic cache .* was built from labeled_fingerprint")


def test_synthetic_cache_of_another_split_refused(good_data):
    good_data.synthetic_meta["split_name"] = "other_split"
    _refused(good_data, "built from split_name 'other_split'")


def test_synthetic_cache_of_another_split_version_refused(good_data):
    good_data.synthetic_meta["split_sha256"] = "0" * 64
    _refused(good_data, "built from split_sha256")


@pytest.mark.parametrize("value", [0.09, 0.0, None, "high", float("nan")])
def test_low_or_missing_ks_pval_refused(good_data, value):
    good_data.synthetic_meta["ks_pval"] = value
    _refused(good_data, "ks_pval")


def test_ks_threshold_comes_from_params(good_data):
    good_data.synthetic_meta["ks_pval"] = 0.3
    _check(good_data, min_ks_pval=0.3)
    _refused(good_data, "train.min_ks_pval 0.31", min_ks_pval=0.31)


def test_low_combined_ks_names_the_folds_features_and_params(good_data):
    good_data.synthetic_meta["ks_pval"] = 0.006
    good_data.synthetic_meta["folds"] = [
        {"fold": 0, "ks": {"body_ratio": {"pvalue": 0.2}, "rsi14": {"pvalue": 0.9}}},
        {"fold": 1, "ks": {"body_ratio": {"pvalue": 0.0015}, "rsi14": {"pvalue": 0.03}}},
    ]
    _refused(
        good_data,
        r"combined KS p 0\.006 < train\.min_ks_pval 0\.1 \(fold 1 body_ratio p=0\.0015, "
        r"fold 1 rsi14 p=0\.03\): .*raise synth_cache\.quality, lower synth_cache\.jitter_sigma",
    )


def test_synthetic_row_in_val_by_provenance_refused(good_data):
    good_data.val.is_synthetic[1] = True
    _refused(good_data, "val row 1 .* synthetic by provenance")


def test_negative_index_in_test_refused(good_data):
    good_data.test.index[2] = -1
    _refused(good_data, "test row 2 .* synthetic by provenance")


def test_synthetic_content_in_test_refused(good_data):
    # A synthetic window copied into test with clean flags: only its content gives it away.
    good_data.test.ohlc[0] = good_data.train.ohlc[7]
    _refused(good_data, "test row 0 .* same OHLC content as a synthetic window")


def test_synthetic_content_known_only_from_provenance_file_refused(good_data, tmp_path):
    import pandas as pd

    from moola.data.synth import window_content_sha256

    leaked = good_data.val.ohlc[2]
    pd.DataFrame(
        {"row": [0], "parent_index": [0], "method": ["jitter"], "content_sha256": [window_content_sha256(leaked)]}
    ).to_parquet(tmp_path / "provenance.parquet")
    good_data.paths = {"synthetic": tmp_path}
    _refused(good_data, "val row 2 .* same OHLC content as a synthetic window")


def test_synthetic_parent_outside_train_refused(good_data):
    good_data.train.parent[7] = 9  # a test row
    _refused(good_data, "labeled row 9, which is not a train row")


def test_empty_val_refused(good_data):
    rng = np.random.default_rng(1)
    good_data.val = _part([], rng)
    _refused(good_data, "val part .* is empty")


def test_required_pretrained_encoder_missing_refused(good_data, tmp_path):
    _refused(
        good_data, "needs a pretrained encoder but none is given", model_name="adapter_lstm", pretrain_use="required"
    )
    _refused(
        good_data,
        "does not exist",
        model_name="adapter_lstm",
        pretrain_use="required",
        encoder_path=str(tmp_path / "missing.pt"),
    )


def test_pretrained_match_below_threshold_refused_with_details(good_data):
    model = {f"encoder.w{i}": (4, 4) for i in range(10)}
    file = {f"w{i}": (4, 4) for i in range(7)} | {"w7": (8, 4)}
    report = compare_state_dicts(model, file, source="artifacts/ts2vec/encoder_v1.pt")
    with pytest.raises(guards.GuardRefused) as caught:
        _check(good_data, load_report=report)
    message = str(caught.value)
    assert "matched only 7/10" in message and "70% < train.min_pretrained_match 80%" in message
    assert "encoder.w7 model [4, 4] vs file [8, 4]" in message and "encoder.w8 [4, 4] missing from file" in message
    report_ok = compare_state_dicts(model, {f"w{i}": (4, 4) for i in range(8)})
    assert any("80%" in claim for claim in _check(good_data, load_report=report_ok))


# ----- through the stage: exit code 1, one line, nothing written ------------------------------


def _outputs(root):
    return (
        sorted(
            p.relative_to(root).as_posix()
            for folder in ("artifacts/models", "metrics", "plots/train")
            for p in (root / folder).rglob("*")
            if p.is_file()
        )
        if root.exists()
        else []
    )


def _set_params(root, **changes):
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text())
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if key:
            params[section][key] = value
        else:
            params[section] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# Augmentations far stronger than the defaults: the tiny project's cache fails the KS guard.
STRONG_AUGMENTATION = {
    "synth_cache.quality": 1.0,
    "synth_cache.ratio": 3,
    "synth_cache.jitter_sigma": 1.0,
    "synth_cache.magnitude_sigma": 1.0,
}
STRONG_CACHE = "v1_temporal_q1.0_r3"


def _assert_refused_with_nothing_written(root, argv, capsys, match):
    before = _outputs(root)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert match in err
    assert _outputs(root) == before
    assert (
        not list((root / "artifacts" / "models").glob(".*.state")) if (root / "artifacts" / "models").exists() else True
    )


def test_stage_refuses_low_ks_pval_before_writing(built_project, capsys):
    # synth_cache refuses such a cache itself (below); one written while train.augment was false
    # and then used meets the same check again in train.
    _set_params(built_project, **STRONG_AUGMENTATION, **{"train.augment": False})
    assert cli.main(["synth-cache"]) == 0
    _set_params(built_project, **{"train.augment": True, "train.synthetic": STRONG_CACHE})
    capsys.readouterr()
    _assert_refused_with_nothing_written(built_project, ["train"], capsys, "train.min_ks_pval")


def test_stage_refuses_adapter_without_encoder_before_writing(built_project, capsys):
    (built_project / "artifacts" / "ts2vec" / "encoder_v1.pt").unlink()
    _assert_refused_with_nothing_written(
        built_project, ["train", "--model", "adapter_lstm"], capsys, "moola pretrain-ts2vec"
    )


def test_stage_refuses_mismatched_encoder_before_writing(built_project, capsys):
    _set_params(built_project, **{"encoder.hidden": 12})  # the model's encoder no longer fits the file
    _assert_refused_with_nothing_written(built_project, ["train"], capsys, "matched only 0/")


def test_stage_refuses_random_split_file_before_writing(built_project, capsys):
    split_file = built_project / "data" / "splits" / "fwd_chain_v3.json"
    split = json.loads(split_file.read_text())
    split["strategy"] = "random"
    split_file.write_text(json.dumps(split))
    _assert_refused_with_nothing_written(built_project, ["train"], capsys, "random")


def test_synth_cache_refuses_a_failing_cache_before_writing_it(built_project, capsys):
    cache = built_project / "data" / "synthetic_cache" / STRONG_CACHE
    _set_params(built_project, **STRONG_AUGMENTATION)
    assert cli.main(["synth-cache"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "< train.min_ks_pval 0.1 (fold " in err and " p=" in err and "synth_cache.quality" in err
    assert not cache.exists() and not list(cache.parent.glob(f".{STRONG_CACHE}*"))
    _set_params(built_project, **{"train.augment": False})  # train will not read it: written, as before
    assert cli.main(["synth-cache"]) == 0 and (cache / "meta.json").is_file()
