"""A refusal under `dvc exp run` / `dvc repro` changes no output: check_params stops DVC first.

DVC deletes a stage's (non-persist) outputs before it runs the stage's command, so a value the
stage itself refuses would already have cost the checkpoint, the training record and the
uncached metrics and plots. Each case here sets one bad value the way a user does, with
`dvc exp run -S`, in a copy of the prepared project, and requires: a non-zero exit, the one
refusal line of `moola check-params` naming the key, no other stage started, and every file
under data/, artifacts/, metrics/, plots/ and dvc.lock byte-identical.
"""

from __future__ import annotations

import pytest
from reliability_project import copy_project, git, run, snapshot

pytestmark = pytest.mark.slow  # one copy of the prepared project; four `dvc exp run`, about 15 s each

CASES = (
    ("train.epochs=-3", "params key train.epochs: must be >= 1, got -3"),
    ("model=tcn", "tcn"),  # a retired (legacy) model
    ("train.lr=fast", "params key train.lr"),
    ("build_windows.window=8", "< window (8)"),  # a window too short: its vol_span no longer fits
)


def test_a_refused_value_under_dvc_exp_run_changes_no_output(prepared_project, tmp_path):
    from reliability_project import BIN_DIR

    root = copy_project(prepared_project.root, tmp_path / "project", dvc_cache=True)
    before = snapshot(root)
    for override, expected in CASES:
        result = run([str(BIN_DIR / "dvc"), "exp", "run", "-S", override], root, timeout=300)
        text = result.stdout + result.stderr
        assert result.returncode != 0, f"-S {override} was not refused:\n{text[-3000:]}"
        errors = [line for line in text.splitlines() if line.startswith("moola ") and ": error: " in line]
        assert len(errors) == 1 and errors[0].startswith("moola check-params: error: "), text[-3000:]
        assert expected in errors[0], errors[0]
        assert "Traceback" not in text, text[-3000:]
        started = [line for line in text.splitlines() if line.startswith("Running stage '")]
        assert started == ["Running stage 'check_params':"], started
        assert snapshot(root) == before, f"-S {override}: a refused run changed an output"
        # What `dvc exp run` leaves behind: the override applied to params.yaml in the workspace.
        assert git(root, "diff", "--name-only").stdout.split() == ["params.yaml"]
        git(root, "checkout", "--", "params.yaml")
    status = run([str(BIN_DIR / "dvc"), "status"], root, timeout=120)
    assert "up to date" in status.stdout, status.stdout
