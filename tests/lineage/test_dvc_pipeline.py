"""The whole pipeline under real DVC in a temporary git repository: repro, experiments, metrics, plots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(root: Path, *args: str) -> str:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(list(args), cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.mark.slow
def test_repro_then_experiment_with_another_model(tiny_project):
    root = tiny_project
    shutil.copytree(REPO_ROOT / "src" / "moola", root / "src" / "moola", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "requirements", root / "requirements")  # build_windows depends on the lock
    git = lambda *args: _run(root, "git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args)  # noqa: E731
    git("init", "-q")
    _run(root, "dvc", "init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "tiny project")

    _run(root, "dvc", "repro")
    lock = (root / "dvc.lock").read_text()
    assert all(f"  {stage}:" in lock for stage in ("train", "evaluate"))
    metrics = json.loads(_run(root, "dvc", "metrics", "show", "--json"))
    shown = json.dumps(metrics)
    assert "pr_auc_macro" in shown and "best_val_loss" in shown

    rendered = json.loads(_run(root, "dvc", "plots", "show", "--json"))
    for declared in (
        "plots/train/curves.csv",
        "plots/eval/confusion.csv",
        "plots/eval/reliability.csv",
        "plots/eval/confusion.png",
    ):
        assert declared in json.dumps(rendered), declared

    git("add", "-A")
    git("commit", "-q", "-m", "baseline run")
    _run(root, "dvc", "exp", "run", "-S", "model=minirocket")
    table = _run(root, "dvc", "exp", "show", "--json")
    assert "minirocket" in table
    manifest = json.loads((root / "artifacts/runs/latest/manifest.json").read_text())
    assert manifest["model"]["name"] == "minirocket"
    diff = json.loads(_run(root, "dvc", "metrics", "diff", "--json"))
    assert "metrics/eval.json" in diff
    _run(root, sys.executable, "-m", "moola.cli", "audit", "artifacts/runs/latest/manifest.json")
