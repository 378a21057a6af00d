"""`moola audit` re-verifies a run from its manifest and catches tampering."""

from __future__ import annotations

import json

import numpy as np

from moola import cli

MANIFEST = "artifacts/runs/latest/manifest.json"


def _audit(capsys):
    code = cli.main(["audit", MANIFEST])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _failed_claims(out):
    return [line for line in out.splitlines() if line.startswith("✗")]


def test_untouched_run_passes_every_claim(evaluated_project, capsys):
    code, out, _ = _audit(capsys)
    assert code == 0, out
    assert not _failed_claims(out)
    for claim in ("sha256 data/labeled_windows/v1/X_ohlc.npy", "sha256 data/splits/fwd_chain_v3.json",
                  "sha256 artifacts/ts2vec/encoder_v1.pt", "sha256 artifacts/models/enhanced_simple_lstm/fold_0.pt",
                  "split parts disjoint, complete, purged and embargoed", "no val/test window equals", "pretrained load figures: matched 8/8"):
        assert f"✓ {claim}" in out


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
    manifest["pretrained"]["matched_count"] = 6
    manifest_file.write_text(json.dumps(manifest))
    code, out, _ = _audit(capsys)
    assert code == 1
    assert "✗ pretrained load figures: recomputed matched 8/8, manifest says 6/8" in out


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
