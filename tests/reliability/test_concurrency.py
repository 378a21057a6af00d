"""Concurrency: a second `dvc repro` in a busy workspace is refused by DVC's lock; queued experiments run in parallel."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from reliability_project import BIN_DIR, copy_project, dvc, git, read_lock, subprocess_env

QUEUED = {"epochs-1": 1, "epochs-2": 2}  # experiment name -> train.epochs


@pytest.mark.slow
def test_second_repro_is_refused_by_the_lock_and_corrupts_nothing(concurrent_rerun, prepared_project):
    second = concurrent_rerun.second
    said = second.stdout + second.stderr
    assert second.returncode != 0, f"a second dvc repro ran beside the first:\n{said}"
    # DVC refuses with its repository lock or, once the first run holds its outputs, its rwlock.
    assert "Unable to acquire lock" in said or "is busy, it is being blocked by" in said, said
    assert "Traceback" not in said
    assert concurrent_rerun.second_finished_while_first_ran, "the second repro only ended after the first finished"
    first = concurrent_rerun.first
    assert first.returncode == 0, first.text
    assert read_lock(concurrent_rerun.root) == prepared_project.lock


def _experiments(shown: object) -> dict[str, dict]:
    """{experiment name: its data block} anywhere in `dvc exp show --json` output."""
    found: dict[str, dict] = {}
    if isinstance(shown, dict):
        if shown.get("name") in QUEUED and isinstance(shown.get("data"), dict):
            found[shown["name"]] = shown["data"]
        for value in shown.values():
            found.update(_experiments(value))
    elif isinstance(shown, list):
        for value in shown:
            found.update(_experiments(value))
    return found


@pytest.mark.slow
def test_two_queued_experiments_run_together_and_both_complete(prepared_project, tmp_path):
    # Queued experiments start from a commit: commit the reference run (dvc.lock included), keep the
    # DVC cache so the unchanged stages are checked out, not rerun.
    root = copy_project(prepared_project.root, tmp_path / "project", outputs=True, dvc_cache=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "reference run")
    for name, epochs in QUEUED.items():
        dvc(root, "exp", "run", "--queue", "-S", f"train.epochs={epochs}", "--name", name)
    try:
        # The workers `queue start` leaves running keep its stdout open: send it to a file, not a
        # pipe, so the call returns once they are started rather than when they exit.
        with open(tmp_path / "queue_start.log", "w") as log:
            started = subprocess.run(
                [str(BIN_DIR / "dvc"), "queue", "start", "-j", "2"],
                cwd=root,
                env=subprocess_env(root),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
        assert started.returncode == 0, (tmp_path / "queue_start.log").read_text()
        deadline = time.monotonic() + 400
        status = ""
        while time.monotonic() < deadline:
            status = dvc(root, "queue", "status").stdout
            if not any(word in status for word in ("Queued", "Running")):
                break
            time.sleep(3)
        assert not any(word in status for word in ("Queued", "Running")), f"queue still busy after 400 s:\n{status}"
    finally:
        dvc(root, "queue", "stop", check=False, timeout=60)
    logs = {name: dvc(root, "queue", "logs", name, check=False).stdout for name in QUEUED}
    for name in QUEUED:
        line = next((line for line in status.splitlines() if name in line), "")
        assert "Success" in line, f"experiment {name}: {line}\n{logs[name][-3000:]}"

    found = _experiments(json.loads(dvc(root, "exp", "show", "--json").stdout))
    assert set(found) == set(QUEUED), f"dvc exp show lists {sorted(found)}"
    for name, epochs in QUEUED.items():
        metrics = found[name]["metrics"]
        assert metrics["metrics/train.json"]["data"]["fold_0"]["epochs_run"] == epochs  # every fold runs its epochs
        assert "test" in metrics["metrics/eval.json"]["data"]
    # The workspace itself is untouched by the queued runs.
    assert read_lock(root) == prepared_project.lock
