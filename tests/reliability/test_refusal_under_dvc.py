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

pytestmark = pytest.mark.slow  # one copy of the prepared project; one `dvc exp run` per case, about 15 s each

# One bad value (or pair) for every section of params.yaml, each refused by check_params.
CASES = (
    (("base.seed=1099511627776",), "base.seed"),
    (("build_windows.window=8",), "< window (8)"),  # a window too short: its vol_span no longer fits
    (("build_windows.max_gap='1'",), "build_windows.max_gap = '1' must be a pandas Timedelta string with a unit"),
    (
        ("build_windows.barrier_k=3.5",),
        "data/labeled_windows/v1 already exists with different content (differs in build_windows.barrier_k)",
    ),
    (("make_splits.embargo=forever",), "make_splits.embargo"),
    (
        ("make_splits.strategy=cpcv", "make_splits.n_groups=20", "make_splits.n_test_groups=10"),
        "C(20, 10) = 184,756 cpcv folds",
    ),
    (("synth_cache.ratio=0",), "synth_cache.ratio"),
    (("pretrain_ts2vec.epochs=0",), "pretrain_ts2vec.epochs"),
    (("encoder.hidden=big",), "encoder.hidden"),
    (("train.epochs=-3",), "params key train.epochs: must be >= 1, got -3"),
    (("train.lr=fast",), "params key train.lr"),
    (("model=tcn",), "tcn"),  # a retired (legacy) model
    (("+enhanced_simple_lstm.no_such_key=1",), "enhanced_simple_lstm.no_such_key"),  # `+`: DVC adds a new key
    (("+trian.epochs=3",), "unknown section 'trian': did you mean 'train'"),
    (("evaluate.alpha=0.9",), "evaluate.alpha"),
    (("pod.state_upload_minutes=-1",), "pod.state_upload_minutes"),
)


def test_a_refused_value_under_dvc_exp_run_changes_no_output(prepared_project, tmp_path):
    from reliability_project import BIN_DIR

    root = copy_project(prepared_project.root, tmp_path / "project", dvc_cache=True)
    before = snapshot(root)
    params_text = (root / "params.yaml").read_text(encoding="utf-8")
    for overrides, expected in CASES:
        override = " ".join(overrides)
        result = run(
            [str(BIN_DIR / "dvc"), "exp", "run", *(arg for value in overrides for arg in ("-S", value))],
            root,
            timeout=300,
        )
        text = result.stdout + result.stderr
        assert result.returncode != 0, f"-S {override} was not refused:\n{text[-3000:]}"
        errors = [line for line in text.splitlines() if line.startswith("moola ") and ": error: " in line]
        assert len(errors) == 1 and errors[0].startswith("moola check-params: error: "), text[-3000:]
        assert expected in errors[0], errors[0]
        assert "Traceback" not in text, text[-3000:]
        started = [line for line in text.splitlines() if line.startswith("Running stage '")]
        assert started == ["Running stage 'check_params':"], started
        assert snapshot(root) == before, f"-S {override}: a refused run changed an output"
        # What `dvc exp run` leaves behind: at most the override applied to params.yaml in the workspace.
        assert set(git(root, "diff", "HEAD", "--name-only").stdout.split()) <= {"params.yaml"}, override
        (root / "params.yaml").write_text(params_text, encoding="utf-8")  # git may not restore it (DVC's exp state)
    status = run([str(BIN_DIR / "dvc"), "status"], root, timeout=120)
    assert "up to date" in status.stdout, status.stdout
