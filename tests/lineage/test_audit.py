"""`moola audit` re-verifies a run from its manifest, re-derives its figures and catches tampering."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from moola import cli

MANIFEST = "artifacts/runs/latest/manifest.json"
CHECKPOINT = "artifacts/models/enhanced_simple_lstm/fold_0.pt"
CACHE_META = "data/synthetic_cache/v1_temporal_q0.9_r0.5/meta.json"
LABELED_META = "data/labeled_windows/v1/meta.json"


def _audit(capsys):
    code = cli.main(["audit", MANIFEST])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _failed_claims(out):
    return [line for line in out.splitlines() if line.startswith("✗")]


def _one_line_refusal(code, err):
    lines = err.strip().splitlines()
    return code == 1 and len(lines) == 1 and lines[0].startswith("moola audit: error:") and "Traceback" not in err


def _manifest_files(project):
    """Both copies of the run's manifest: artifacts/runs/<run_id>/ and artifacts/runs/latest/."""
    latest = project / MANIFEST
    run_id = json.loads(latest.read_text())["run_id"]
    return [latest, project / "artifacts/runs" / run_id / "manifest.json"]


def _edit_manifests(project, edit):
    for file in _manifest_files(project):
        manifest = json.loads(file.read_text())
        edit(manifest)
        file.write_text(json.dumps(manifest, indent=2))


def _rehash_in_manifests(project, relative):
    """What a rerun on an edited file records: the manifest's sha256 follows the file, so only re-derivation can
    tell."""
    digest = hashlib.sha256((project / relative).read_bytes()).hexdigest()
    _edit_manifests(project, lambda manifest: manifest["inputs"][relative].update(sha256=digest))


def _rehash_predictions(project):
    """What a rewrite of the table with its manifest would record: only re-derivation can tell then."""
    digest = hashlib.sha256(_predictions_file(project).read_bytes()).hexdigest()
    _edit_manifests(project, lambda manifest: manifest["outputs"].update({"predictions.parquet": digest}))


def _predictions_file(project):
    """The table beside the audited manifest (artifacts/runs/latest/), the one the audit must read."""
    return (project / MANIFEST).parent / "predictions.parquet"


@pytest.fixture
def with_predictions(evaluated_project):
    """evaluated_project, whose run directory holds the out-of-fold table `moola evaluate` wrote."""
    assert _predictions_file(evaluated_project).is_file()
    return evaluated_project


def test_untouched_run_passes_every_claim(evaluated_project, capsys):
    for file in _manifest_files(evaluated_project):  # a run evaluated before predictions were stored
        (file.parent / "predictions.parquet").unlink()
    _edit_manifests(evaluated_project, lambda manifest: manifest.pop("outputs"))
    code, out, _ = _audit(capsys)
    assert code == 0, out
    assert not _failed_claims(out)
    for claim in (
        "manifest schema",
        "sha256 data/labeled_windows/v1/X_ohlc.npy",
        "sha256 data/splits/fwd_chain_v3.json",
        "sha256 artifacts/ts2vec/encoder_v1.pt",
        f"sha256 {CHECKPOINT}",
        "split parts disjoint, complete, purged and embargoed",
        "no val/test window equals",
        "pretrained load figures: matched 8/8",
        "labeled fingerprint re-derived",
        "synthetic fingerprint re-derived",
        "synthetic cache lineage and provenance",
        "synthetic cache KS statistics re-derived: ks_pval",
        "checkpoints are the ones trained",
    ):
        assert f"✓ {claim}" in out
    assert (
        "– metrics re-derived from stored predictions: not re-derivable: the manifest lists no predictions table" in out
    )
    assert "1 not re-derivable from what the run stored: metrics re-derived from stored predictions" in out


def test_untouched_run_with_predictions_re_derives_its_metrics(with_predictions, capsys):
    code, out, _ = _audit(capsys)
    assert code == 0, out
    assert (
        "✓ metrics re-derived from stored predictions: metrics, 95% intervals, paired tests, no-skill test, "
        "detectable effects and verdicts recomputed"
    ) in out
    assert "not re-derivable" not in out and out.rstrip().endswith("claims hold")


def test_edited_ks_pval_fails_though_its_hash_was_updated(evaluated_project, capsys):
    meta_file = evaluated_project / CACHE_META
    meta = json.loads(meta_file.read_text())
    meta["ks_pval"] = 0.95 if meta["ks_pval"] != 0.95 else 0.5
    meta_file.write_text(json.dumps(meta, indent=2))
    _rehash_in_manifests(evaluated_project, CACHE_META)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err) and "do not hold" in err
    assert f"✓ sha256 {CACHE_META}" in out  # the hash alone no longer catches it
    failed = _failed_claims(out)
    assert len(failed) == 1, failed
    assert failed[0].startswith(
        f"✗ synthetic cache KS statistics re-derived: meta.json says ks_pval {meta['ks_pval']}, recomputed"
    )


def test_edited_ks_statistic_fails(evaluated_project, capsys):
    meta_file = evaluated_project / CACHE_META
    meta = json.loads(meta_file.read_text())
    feature = sorted(meta["ks"])[0]
    meta["ks"][feature]["statistic"] += 0.001
    meta_file.write_text(json.dumps(meta, indent=2))
    _rehash_in_manifests(evaluated_project, CACHE_META)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert f"✗ synthetic cache KS statistics re-derived: meta.json ks {feature} statistic" in out


def test_edited_labeled_fingerprint_fails(evaluated_project, capsys):
    meta_file = evaluated_project / LABELED_META
    meta = json.loads(meta_file.read_text())
    meta["fingerprint"] = "f" * 64
    meta_file.write_text(json.dumps(meta, indent=2))
    _rehash_in_manifests(evaluated_project, LABELED_META)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert "✗ labeled fingerprint re-derived: recomputed fingerprint" in out and "meta.json says ffffffffffff" in out


def test_edited_metric_fails_against_the_stored_predictions(with_predictions, capsys):
    _edit_manifests(with_predictions, lambda manifest: manifest["metrics"]["test"].update(accuracy=0.99))
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err) and "metrics re-derived from stored predictions" in err
    failed = _failed_claims(out)
    assert failed[0].startswith("✗ metrics re-derived from stored predictions: metrics.test.accuracy is 0.99")
    assert failed[1:] == [
        line for line in failed if line.startswith("✗ metrics/eval.json re-derived: eval.test.accuracy")
    ]


def test_edited_verdict_fails_against_the_stored_predictions(with_predictions, capsys):
    _edit_manifests(
        with_predictions, lambda manifest: manifest["metrics"]["vs_majority"]["accuracy"].update(p_value=0.001)
    )
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert "✗ metrics re-derived from stored predictions: metrics.vs_majority.accuracy.p_value is 0.001" in out


@pytest.mark.parametrize(
    "block, key, shown",
    [
        ("vs_majority", "detectable_effect", "metrics.vs_majority.detectable_effect"),
        ("vs_logistic", "windows_for_10_points", "metrics.vs_logistic.windows_for_10_points"),
        ("no_skill", "p_value", "metrics.no_skill.p_value"),
    ],
)
def test_edited_detectable_effect_or_no_skill_p_fails(with_predictions, capsys, block, key, shown):
    _edit_manifests(
        with_predictions,
        lambda manifest: manifest["metrics"][block].update({key: 0.5 + manifest["metrics"][block][key]}),
    )
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert f"✗ metrics re-derived from stored predictions: {shown} is " in out


def test_edited_skill_line_fails(with_predictions, capsys):
    _edit_manifests(with_predictions, lambda manifest: manifest["verdicts"].update(skill="above no skill (edited)"))
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert "✗ metrics re-derived from stored predictions: the manifest's skill line 'above no skill" in out


def test_predictions_whose_labels_differ_from_the_labeled_version_fail(with_predictions, capsys):
    table_file = _predictions_file(with_predictions)
    import pandas as pd

    table = pd.read_parquet(table_file)
    table.loc[0, "y_true"] = (int(table.loc[0, "y_true"]) + 1) % 3
    table.to_parquet(table_file, index=False)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err) and "predictions.parquet does not match its sha256 in the manifest" in out
    _rehash_predictions(with_predictions)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert f"predictions.parquet window {table.loc[0, 'window_id']} has y_true" in out


def test_predictions_missing_a_window_fail(with_predictions, capsys):
    table_file = _predictions_file(with_predictions)
    import pandas as pd

    table = pd.read_parquet(table_file)
    table.iloc[1:].to_parquet(table_file, index=False)
    _rehash_predictions(with_predictions)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert "predictions.parquet scores other windows for fold 0 than the split's test rows" in out


def test_flipped_checkpoint_byte_fails_though_the_manifest_followed_it(evaluated_project, capsys):
    file = evaluated_project / CHECKPOINT
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))
    code, out, err = _audit(capsys)  # as it is: the manifest's hash and the training record both disagree
    assert _one_line_refusal(code, err)
    assert f"✗ sha256 {CHECKPOINT}" in out and "✗ checkpoints are the ones trained" in out
    _rehash_in_manifests(evaluated_project, CHECKPOINT)  # what a re-evaluation used to write under the old run id
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert f"✓ sha256 {CHECKPOINT}" in out
    assert f"✗ checkpoints are the ones trained: {CHECKPOINT} is" in out and "its training record says" in out


def test_manifest_without_its_checkpoint_entry_is_refused(evaluated_project, capsys):
    from moola.lineage.audit import audit_manifest

    _edit_manifests(evaluated_project, lambda manifest: manifest["inputs"].pop(CHECKPOINT))
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert f"✗ checkpoints are the ones trained: the manifest records no sha256 for its checkpoint {CHECKPOINT}" in out
    claims = {
        claim.name: claim
        for claim in audit_manifest(json.loads((evaluated_project / MANIFEST).read_text()), evaluated_project)
    }
    assert not claims["checkpoints are the ones trained"].ok
    assert (
        claims["checkpoints are the ones trained"].detail
        == f"the manifest records no sha256 for its checkpoint {CHECKPOINT}"
    )


def test_named_predictions_that_are_missing_fail(with_predictions, capsys):
    relative = _predictions_file(with_predictions).relative_to(with_predictions).as_posix()
    digest = hashlib.sha256(_predictions_file(with_predictions).read_bytes()).hexdigest()

    def name_predictions(manifest):
        manifest["paths"]["predictions"] = relative
        manifest["inputs"][relative] = {"role": "predictions", "sha256": digest}

    _edit_manifests(with_predictions, name_predictions)
    _predictions_file(with_predictions).unlink()
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert f"✗ sha256 {relative}: file is missing" in out
    assert (
        f"✗ metrics re-derived from stored predictions: the manifest lists predictions {relative} but the file is "
        "missing" in out
    )


def test_tampered_split_is_caught(evaluated_project, capsys):
    split_file = evaluated_project / "data/splits/fwd_chain_v3.json"
    split = json.loads(split_file.read_text())
    moved = split["test_indices"].pop(0)  # a test window quietly moved into train
    split["train_indices"] = sorted(split["train_indices"] + [moved])
    split_file.write_text(json.dumps(split, indent=2))
    code, out, err = _audit(capsys)
    assert code == 1
    failed = "\n".join(_failed_claims(out))
    assert "sha256 data/splits/fwd_chain_v3.json" in failed
    assert "purge" in failed and "embargo" in failed
    assert len(err.strip().splitlines()) == 1 and "do not hold" in err


def test_swapped_data_array_is_caught(evaluated_project, capsys):
    labels_file = evaluated_project / "data/labeled_windows/v1/y.npy"
    labels = np.load(labels_file)
    np.save(labels_file, labels[::-1].copy())  # same shape and dtype, other content
    code, out, _ = _audit(capsys)
    assert code == 1
    assert "✗ sha256 data/labeled_windows/v1/y.npy" in out


def test_leaked_window_is_caught(evaluated_project, capsys):
    split = json.loads((evaluated_project / "data/splits/fwd_chain_v3.json").read_text())
    ohlc_file = evaluated_project / "data/labeled_windows/v1/X_ohlc.npy"
    ohlc = np.load(ohlc_file)
    ohlc[split["test_indices"][3]] = ohlc[split["train_indices"][0]]  # a train window copied into test
    np.save(ohlc_file, ohlc)
    code, out, _ = _audit(capsys)
    assert code == 1
    leak = [line for line in _failed_claims(out) if "no val/test window equals" in line]
    assert leak and f"test row {split['test_indices'][3]} has the same OHLC content as a train window" in leak[0]


def test_leaked_synthetic_window_is_caught(evaluated_project, capsys):
    split = json.loads((evaluated_project / "data/splits/fwd_chain_v3.json").read_text())
    synthetic = np.load(evaluated_project / "data/synthetic_cache/v1_temporal_q0.9_r0.5/X_ohlc.npy")
    ohlc_file = evaluated_project / "data/labeled_windows/v1/X_ohlc.npy"
    ohlc = np.load(ohlc_file)
    ohlc[split["val_indices"][0]] = synthetic[5]
    np.save(ohlc_file, ohlc)
    code, out, _ = _audit(capsys)
    assert code == 1
    assert "same OHLC content as a synthetic window" in "\n".join(_failed_claims(out))


def test_false_pretrained_figures_are_caught(evaluated_project, capsys):
    manifest_file = evaluated_project / MANIFEST
    manifest = json.loads(manifest_file.read_text())
    manifest["pretrained"]["folds"][0]["matched_count"] = 6  # every fold's load is checked, not only the last
    manifest_file.write_text(json.dumps(manifest))
    code, out, _ = _audit(capsys)
    assert code == 1
    assert "✗ pretrained load figures: fold 0: recomputed matched 8/8, manifest says 6/8" in out


def test_pretrained_load_of_each_fold_is_checked_against_its_own_encoder(evaluated_project, capsys):
    code, out, _ = _audit(capsys)
    assert code == 0
    assert (
        "pretrained load figures: matched 8/8, 8/8 encoder tensors in fold(s) 0..1, each from its own fold's encoder"
        in out
    )
    manifest_file = evaluated_project / MANIFEST
    manifest = json.loads(manifest_file.read_text())
    manifest["pretrained"]["folds"].reverse()  # fold 1's load stated as fold 0's
    manifest_file.write_text(json.dumps(manifest))
    code, out, _ = _audit(capsys)
    assert code == 1 and "✗ pretrained load figures: the manifest's pretrained load 0 names fold 1" in out


def test_missing_input_is_caught(evaluated_project, capsys):
    (evaluated_project / "artifacts/ts2vec/encoder_v1.pt").unlink()
    code, out, _ = _audit(capsys)
    assert code == 1
    assert "✗ sha256 artifacts/ts2vec/encoder_v1.pt: file is missing" in out


def test_a_file_that_is_not_a_manifest_is_one_line(evaluated_project, capsys):
    code = cli.main(["audit", "metrics/eval.json"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "not a moola run manifest" in err


def test_a_manifest_naming_a_file_outside_the_project_is_refused(evaluated_project, capsys):
    (evaluated_project.parent / "outside.txt").write_text("not part of the run")
    manifest_file = evaluated_project / MANIFEST
    manifest = json.loads(manifest_file.read_text())
    manifest["inputs"]["../outside.txt"] = {"role": "labeled", "sha256": "0" * 64}
    manifest_file.write_text(json.dumps(manifest))
    code, out, err = _audit(capsys)
    assert code == 1 and "'..'" in err and len(err.strip().splitlines()) == 1
    assert "✓" not in out


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda table: table.assign(proba_up=np.nan), "NaN or inf"),
        (lambda table: table.assign(y_true="up"), "cannot be checked"),
        (lambda table: table.assign(predicted=(table["predicted"] + 1) % 3), "predicted is not the arg-max"),
        (lambda table: table.drop(columns=["proba_down"]), "missing column(s) proba_down"),
    ],
)
def test_damaged_predictions_fail_in_one_line(with_predictions, capsys, damage, named):
    import pandas as pd

    table_file = _predictions_file(with_predictions)
    damage(pd.read_parquet(table_file)).to_parquet(table_file, index=False)
    _rehash_predictions(with_predictions)  # the file and its manifest rewritten together: only re-derivation can tell
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    failed = _failed_claims(out)
    assert (
        len(failed) == 1 and failed[0].startswith("✗ metrics re-derived from stored predictions") and named in failed[0]
    ), failed


def test_a_huge_ece_bins_in_the_manifest_fails_at_once(with_predictions, capsys):
    _edit_manifests(with_predictions, lambda manifest: manifest["params"]["evaluate"].update(ece_bins=10**12))
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert "evaluate.ece_bins: must be in 1..100, got 1000000000000" in out


def test_predictions_rewritten_beside_the_manifest_fail(with_predictions, capsys):
    import pandas as pd

    table_file = _predictions_file(with_predictions)  # artifacts/runs/latest/: the run folder's copy untouched
    table = pd.read_parquet(table_file)
    proba = [column for column in table.columns if column.startswith("proba_")]
    table[proba] = np.eye(len(proba))[table["y_true"].to_numpy()]  # every window "right"
    table["predicted"] = table["y_true"]
    table.to_parquet(table_file, index=False)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert "✗ sha256 artifacts/runs/latest/predictions.parquet: is " in out
    assert "✗ metrics re-derived from stored predictions: predictions.parquet does not match its sha256" in out


def test_predictions_the_manifest_lists_but_that_are_gone_fail(with_predictions, capsys):
    for file in _manifest_files(with_predictions):
        (file.parent / "predictions.parquet").unlink()
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert "✗ sha256 artifacts/runs/latest/predictions.parquet: file is missing, though the manifest lists it" in out
    assert "not re-derivable" not in out


def test_invented_rows_of_a_fold_the_split_lacks_fail(with_predictions, capsys):
    import pandas as pd

    split = json.loads((with_predictions / "data/splits/fwd_chain_v3.json").read_text())
    windows = pd.read_parquet(with_predictions / "data/labeled_windows/v1/windows.parquet")
    labels = np.load(with_predictions / "data/labeled_windows/v1/y.npy")
    table_file = _predictions_file(with_predictions)
    table = pd.read_parquet(table_file)
    train = [row for row in split["train_indices"] if str(windows["id"].iloc[row]) not in set(table["window_id"])][:5]
    extra = table.iloc[: len(train)].copy()
    extra["window_id"] = windows["id"].iloc[train].astype(str).to_numpy()
    extra["y_true"] = labels[train]
    extra["fold"] = 7
    pd.concat([table, extra], ignore_index=True).to_parquet(table_file, index=False)
    _rehash_predictions(with_predictions)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert f"predictions.parquet scores fold 7, the split has folds 0..{split['n_folds'] - 1}" in out


def test_rows_that_are_not_probabilities_fail(with_predictions, capsys):
    import pandas as pd

    table_file = _predictions_file(with_predictions)
    table = pd.read_parquet(table_file)
    proba = [column for column in table.columns if column.startswith("proba_")]
    table[proba] = 3 * table[proba] - 0.5  # arg-max kept, rows sum to 2.5, some entries negative
    table.to_parquet(table_file, index=False)
    _rehash_predictions(with_predictions)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert "predictions.parquet holds probabilities outside [0, 1]" in out


def test_rows_that_do_not_sum_to_one_fail(with_predictions, capsys):
    import pandas as pd

    table_file = _predictions_file(with_predictions)
    table = pd.read_parquet(table_file)
    proba = [column for column in table.columns if column.startswith("proba_")]
    table[proba] = table[proba] * 0.9
    table.to_parquet(table_file, index=False)
    _rehash_predictions(with_predictions)
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    assert "sums to 0.9, not 1 within 1e-06" in out


@pytest.mark.parametrize(
    "stage, edit",
    [
        ("eval", lambda metrics: metrics["test"].update(accuracy=0.905)),
        ("train", lambda metrics: metrics["mean"].update(val_accuracy=0.99)),
    ],
)
def test_an_edited_dvc_metrics_file_fails(with_predictions, capsys, stage, edit):
    file = with_predictions / f"metrics/{stage}.json"
    metrics = json.loads(file.read_text())
    edit(metrics)
    file.write_text(json.dumps(metrics, indent=2))
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err)
    failed = _failed_claims(out)
    assert len(failed) == 1 and failed[0].startswith(f"✗ metrics/{stage}.json re-derived: {stage}."), failed


@pytest.mark.parametrize("key, value", [("pretrained", "yes"), ("outputs", ["predictions.parquet"]), ("seed", "1")])
def test_a_manifest_entry_of_the_wrong_type_is_one_line(with_predictions, capsys, key, value):
    _edit_manifests(with_predictions, lambda manifest: manifest.update({key: value}))
    code, out, err = _audit(capsys)
    assert _one_line_refusal(code, err) and f"field {key!r} is a" in err and "manifest.json" in err


def test_compare_refuses_a_manifest_naming_a_folder_outside_the_project(with_predictions, capsys):
    outside = with_predictions.parent / "elsewhere_windows"
    outside.mkdir()

    def point_outside(manifest):  # with a sha256 entry, so the schema holds and only the path check can refuse
        manifest["paths"]["labeled"] = str(outside)
        manifest["inputs"][f"{outside}/meta.json"] = {"role": "labeled", "sha256": "0" * 64}

    _edit_manifests(with_predictions, point_outside)
    code = cli.main(["compare", MANIFEST, MANIFEST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "is an absolute path" in err[0] and "manifest.json" in err[0], err
