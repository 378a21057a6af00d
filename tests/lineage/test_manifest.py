"""The run manifest: every field, a deterministic run id, git state, and no secret anywhere."""

from __future__ import annotations

import json
import re
import subprocess

from moola import cli
from moola.lineage.manifest import compute_run_id, git_state, scrub_secrets


def _manifest(root):
    return json.loads((root / "artifacts/runs/latest/manifest.json").read_text())


def test_manifest_holds_every_field(evaluated_project):
    manifest = _manifest(evaluated_project)
    assert re.fullmatch(r"[0-9a-f]{16}", manifest["run_id"])
    run_copy = evaluated_project / "artifacts/runs" / manifest["run_id"] / "manifest.json"
    assert json.loads(run_copy.read_text()) == manifest
    assert set(manifest["git"]) == {"sha", "dirty"}
    assert manifest["model"]["name"] == "enhanced_simple_lstm" and manifest["model"]["pretrained"] is True
    assert manifest["seed"] == 1337
    data = manifest["data"]
    assert data["synthetic_ratio"] == 0.5 and data["val_synthetic"] == 0 and data["test_synthetic"] == 0
    assert data["split_strategy"] == "walk_forward" and data["labeled_fingerprint"]
    assert manifest["pretrained"]["matched_count"] == manifest["pretrained"]["model_tensors"] == 8
    assert "frozen_parameters" in manifest["pretrained"]
    metrics = manifest["metrics"]
    assert metrics["accuracy"] == metrics["test"]["accuracy"]
    assert {"val", "test", "baseline", "vs_majority", "vs_logistic", "collapse", "beats", "folds"} <= set(metrics)
    assert manifest["training"]["best_epoch"] >= 1 and manifest["training"]["history"]
    roles = {entry["role"] for entry in manifest["inputs"].values()}
    assert roles == {"labeled", "split", "synthetic", "encoder", "checkpoints"}
    for name in ("X_ohlc.npy", "X_feats20.npy", "y.npy", "windows.parquet"):
        assert re.fullmatch(r"[0-9a-f]{64}", manifest["inputs"][f"data/labeled_windows/v1/{name}"]["sha256"])
    assert {"model", "train", "base", "evaluate", "encoder", "enhanced_simple_lstm"} <= set(manifest["params"])
    assert {"python", "torch", "numpy", "sklearn", "dvc"} <= set(manifest["packages"])
    assert manifest["device"]["type"] == "cpu"
    assert set(manifest["paths"]) >= {"labeled", "split", "synthetic", "encoder", "checkpoints"}
    assert not any(str(value).startswith("/") for value in manifest["paths"].values())


def test_run_id_is_a_hash_of_params_and_inputs(evaluated_project, capsys):
    manifest = _manifest(evaluated_project)
    record = json.loads((evaluated_project / "artifacts/models/enhanced_simple_lstm/record.json").read_text())
    assert record["run_id"] == manifest["run_id"]
    inputs = {path: entry for path, entry in manifest["inputs"].items() if entry["role"] != "checkpoints"}
    assert compute_run_id(record["params"], inputs, manifest["code"]["code_sha256"]) == manifest["run_id"]
    before = (evaluated_project / "artifacts/runs/latest/manifest.json").read_bytes()
    assert cli.main(["evaluate"]) == 0
    assert (evaluated_project / "artifacts/runs/latest/manifest.json").read_bytes() == before


def test_git_state_reports_sha_and_dirty_flag(tmp_path):
    assert git_state(tmp_path) == {"sha": None, "dirty": None}
    run = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "a.txt").write_text("one")
    run("add", "a.txt")
    run("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "first")
    clean = git_state(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", clean["sha"]) and clean["dirty"] is False
    (tmp_path / "a.txt").write_text("two")
    assert git_state(tmp_path)["dirty"] is True


SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLESECRET123",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIexampleSECRETkey0000",
    "RUNPOD_API_KEY": "rp-example-token-9f8e7d6c",
    "GITHUB_TOKEN": "ghp_exampleTokenValue1234",
}


def test_no_secret_reaches_any_output_or_log(built_project, monkeypatch, capsys):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["train"]) == 0
    assert cli.main(["evaluate"]) == 0
    assert cli.main(["audit", "artifacts/runs/latest/manifest.json"]) == 0
    logs = capsys.readouterr()
    texts = [logs.out, logs.err]
    for folder in ("artifacts", "metrics", "plots"):
        texts += [p.read_bytes().decode("latin-1") for p in (built_project / folder).rglob("*") if p.is_file()]
    for value in SECRETS.values():
        assert not any(value in text for text in texts), f"a secret value leaked: {value[:6]}..."


def test_scrub_secrets_blanks_secret_values():
    manifest = {"a": ["x", "prefix-s3cr3tvalue-suffix"], "b": {"c": "s3cr3tvalue"}, "d": 3}
    assert scrub_secrets(manifest, ["s3cr3tvalue"]) == {"a": ["x", "[redacted]"], "b": {"c": "[redacted]"}, "d": 3}
