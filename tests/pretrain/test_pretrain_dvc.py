"""`dvc repro` runs the pretrain_ts2vec stage for real in a temporary git repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


def dvc(root: Path, *args: str) -> str:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(
        [str(bin_dir / "dvc"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_dvc_repro_runs_the_stage_then_skips_it(pretrain_project):
    # The stage's code dependencies must exist inside the repository DVC hashes.
    shutil.copytree(
        REPO_ROOT / "src" / "moola", pretrain_project / "src" / "moola", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(REPO_ROOT / "requirements", pretrain_project / "requirements")  # build_windows depends on the lock
    subprocess.run(["git", "init", "-q"], cwd=pretrain_project, check=True)
    dvc(pretrain_project, "init", "-q")

    dvc(pretrain_project, "repro", "--single-item", "check_params")  # the params check every stage depends on
    dvc(pretrain_project, "repro", "--single-item", "pretrain_ts2vec")
    checkpoint = torch.load(pretrain_project / "artifacts/ts2vec/encoder_v1.pt", weights_only=True)
    assert checkpoint["format"] == "moola.ts2vec/2"
    assert "pretrain_ts2vec" in (pretrain_project / "dvc.lock").read_text()

    again = dvc(pretrain_project, "repro", "--single-item", "pretrain_ts2vec")
    assert "didn't change" in again
    metrics = json.loads(dvc(pretrain_project, "metrics", "show", "--json"))
    shown = json.dumps(metrics)
    assert '"left_out": 64' in shown and '"kept": 80' in shown
