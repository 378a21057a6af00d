"""A pod killed mid-training, after its data push, or before its git push: the next pod repeats nothing.

Each scenario has its own copy of the remote (same S3 server, another prefix) holding what the
laptop pushed, so no scenario sees another's run cache. A pod is `moola pod run train` in a fresh
clone, killed with SIGKILL of its whole process group (as a preempted container dies):
mid-training once its first resumable state is on the remote; after the data push at its first
`git add`; before the git push at `git push` (both through a `git` shim on PATH).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from pod_project import clone, make_origin
from s3server import BUCKET, dvc, run

pytestmark = (
    pytest.mark.slow
)  # about 10 minutes at load 3 to 11 on 2 cores: six pod runs of the tiny project's train stage

EPOCHS = 16  # the first state reached the remote after 6 to 10 epochs (load 3 to 11); 2 folds x 16 outlast that
EPOCH_LINE = re.compile(rf"^epoch (\d+)/{EPOCHS} \|", re.MULTILINE)
RESUMED = re.compile(r"resuming from \.\S+\.state: (\d+) epoch\(s\) already done")
GIT_SHIM = """#!/usr/bin/env bash
# Test stand-in for a preemption: SIGKILL the pod job's process group at `git $MOOLA_TEST_KILL_AT_GIT`.
if [ "$1" = "$MOOLA_TEST_KILL_AT_GIT" ]; then
  kill -KILL -- -"$(ps -o pgid= -p $$ | tr -d ' ')"
fi
exec {git} "$@"
"""


@pytest.fixture
def laptop_origin(tiny_project, tmp_path, env, s3_server):
    """Origin whose main has the data stages and the encoder locked, their outputs pushed to s3."""
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    params["train"].update(epochs=EPOCHS, patience=EPOCHS)  # patience as long: no early stop
    params["pod"] = {"state_upload_minutes": 0}
    origin = make_origin(tmp_path, env, pipeline_from=tiny_project, params=yaml.safe_dump(params, sort_keys=False))
    laptop = clone(origin, tmp_path / "laptop", env)
    run(dvc("repro", "synth_cache", "pretrain_ts2vec"), laptop, env, timeout=300)
    run(["git", "add", "--all"], laptop, env)
    run(["git", "commit", "--quiet", "-m", "data stages and encoder"], laptop, env)
    run(["git", "push", "--quiet", "origin", "main"], laptop, env)
    run(dvc("push", "--remote", "s3"), laptop, env)
    return origin


class Scenario:
    """One copy of the laptop's remote and the pods that run against it."""

    def __init__(self, name, origin, s3_server, tmp_path, env):
        self.name, self.origin, self.tmp_path, self.env = name, origin, tmp_path, dict(env)
        self.folder = s3_server.root / BUCKET / name
        shutil.copytree(s3_server.root / BUCKET / "cache", self.folder)
        self.url = f"s3://{BUCKET}/{name}"
        self.start_bytes = self.remote_bytes()
        self.pods = 0

    def remote_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())

    def states_on_remote(self) -> list[Path]:
        return sorted((self.folder / "moola-resume").glob("*/*"))

    def start(self, kill_at_git: str | None = None) -> subprocess.Popen:
        self.pods += 1
        where = clone(self.origin, self.tmp_path / f"{self.name}-pod{self.pods}", self.env)
        env = dict(self.env)
        env["PYTHONPATH"] = str(where / "src")  # the pod runs its clone's code
        if kill_at_git:
            shim = self.tmp_path / f"{self.name}-shim"
            shim.mkdir(exist_ok=True)
            (shim / "git").write_text(GIT_SHIM.format(git=shutil.which("git")))
            (shim / "git").chmod(0o755)
            env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
            env["MOOLA_TEST_KILL_AT_GIT"] = kill_at_git
        log = where.parent / f"{where.name}.log"
        report = where.parent / f"{where.name}.json"
        command = [
            sys.executable,
            "-m",
            "moola.cli",
            "pod",
            "run",
            "train",
            "--branch",
            f"pod/{self.name}",
            "--remote-url",
            self.url,
            "--report",
            str(report),
        ]
        with open(log, "w") as handle:
            process = subprocess.Popen(
                command, cwd=where, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        process.where, process.log, process.report = where, log, report
        return process

    def finish(self, process, timeout=400) -> str:
        try:
            process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        return process.log.read_text()

    def run_to_end(self) -> tuple[subprocess.Popen, str]:
        process = self.start()
        text = self.finish(process)
        assert process.returncode == 0, text[-3000:]
        return process, text


def epochs_in(text: str) -> int:
    return len(EPOCH_LINE.findall(text))


def pulled(process) -> int | None:
    """Data bytes the pod's input pull fetched (None for a killed pod: it wrote no report)."""
    return json.loads(process.report.read_text())["bytes_pulled"] if process.report.is_file() else None


def test_a_preempted_pod_is_continued_by_the_next_without_repeating_saved_work(laptop_origin, s3_server, tmp_path, env):
    # The train stage trains every fold of the split in turn, each with its own resumable state,
    # kept until the stage's outputs are all written: a fold finished before the kill is not redone.
    n_folds = yaml.safe_load((tmp_path / "laptop" / "params.yaml").read_text())["make_splits"]["n_folds"]
    total = n_folds * EPOCHS
    figures = {"folds": n_folds, "epochs_per_fold": EPOCHS}

    # 2. and 3. Killed after the data push (at `git add`) and before the git push. The killed
    # pods trained to the end first: their dvc.lock is the uninterrupted run's.
    reference_lock = None
    for name, verb in (("after-data-push", "add"), ("before-git-push", "push")):
        scenario = Scenario(name, laptop_origin, s3_server, tmp_path, env)
        killed = scenario.start(kill_at_git=verb)
        first = scenario.finish(killed)
        assert killed.returncode == -signal.SIGKILL, first[-3000:]
        assert "verified on DVC remote" in first and epochs_in(first) == total
        assert f"refs/heads/pod/{name}" not in run(["git", "ls-remote", str(laptop_origin)], tmp_path, env).stdout
        lock = (killed.where / "dvc.lock").read_text()
        reference_lock = reference_lock or lock
        assert lock == reference_lock
        after_kill = scenario.remote_bytes()
        pod, text = scenario.run_to_end()
        assert "Stage 'train' is cached - skipping run" in text, text[-3000:]
        assert epochs_in(text) == 0
        assert (pod.where / "dvc.lock").read_text() == reference_lock
        assert scenario.remote_bytes() == after_kill  # nothing new needed uploading
        assert f"refs/heads/pod/{name}" in run(["git", "ls-remote", str(laptop_origin)], tmp_path, env).stdout
        figures[name] = {
            "epochs_before_kill": epochs_in(first),
            "epochs_repeated": epochs_in(text),
            "bytes_pulled_by_killed_pod": pulled(killed),
            "bytes_pushed_by_killed_pod": after_kill - scenario.start_bytes,
            "bytes_pulled_by_second_pod": pulled(pod),
            "bytes_pushed_by_second_pod": scenario.remote_bytes() - after_kill,
        }

    # 1. Killed mid-training, once a resumable state is on the remote.
    mid = Scenario("mid-training", laptop_origin, s3_server, tmp_path, env)
    killed = mid.start()
    deadline = time.monotonic() + 300
    while not mid.states_on_remote() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(killed.pid, signal.SIGKILL)
    first = mid.finish(killed)
    assert mid.states_on_remote(), first[-3000:]  # it was killed after a save, before its end
    epochs_before_kill = epochs_in(first)
    assert 0 < epochs_before_kill < total, first[-3000:]
    after_kill = mid.remote_bytes()
    pod, text = mid.run_to_end()
    resumed = list(map(int, RESUMED.findall(text)))  # one line per fold with a saved state
    resumed_at = sum(resumed)
    assert resumed and 1 <= resumed_at <= epochs_before_kill, text[-3000:]
    assert "saved by an earlier pod" in text
    assert epochs_in(text) == total - resumed_at  # not one saved epoch trained again
    assert (pod.where / "dvc.lock").read_text() == reference_lock
    assert mid.states_on_remote() == []  # the finished run's state was removed
    report = json.loads(pod.report.read_text())
    figures["mid-training"] = {
        "epochs_before_kill": epochs_before_kill,
        "resumed_at": resumed_at,
        "resumed_per_fold": resumed,
        "epochs_repeated": epochs_before_kill - resumed_at,
        "second_pod_epochs": epochs_in(text),
        "bytes_pulled_by_killed_pod": pulled(killed),
        "bytes_pushed_by_killed_pod": after_kill - mid.start_bytes,
        "bytes_pulled_by_second_pod": pulled(pod),
        "state_bytes_downloaded": report["state_bytes_downloaded"],
        "state_bytes_uploaded_by_second_pod": report["state_bytes_uploaded"],
    }
    print(json.dumps(figures, indent=1))
