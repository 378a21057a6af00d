"""docs/RUNPOD.md's workflow, played out: laptop -> pod (pretrain) -> pod (train) -> laptop, real S3 server."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pod_project import clone, make_origin
from s3server import dvc, run
from test_pod_bootstrap import bootstrap, pod_env

pytestmark = pytest.mark.slow  # about 3 minutes on 2 shared cores: three bootstraps and the laptop's stages

HOME_LINE = re.compile(r"^bootstrap: done; on your machine: (.+)$", re.MULTILINE)


def bring_home(laptop: Path, pod_stdout: str, env: dict) -> str:
    """Run on the laptop exactly the command the pod's last line printed."""
    (command,) = HOME_LINE.findall(pod_stdout)
    return run(["bash", "-c", command], laptop, env).stdout


def test_laptop_pretrain_pod_train_pod_laptop_each_pod_does_its_work_once(
    tiny_project, tmp_path, env, s3_server, pod_python
):
    # Laptop: the data stages, committed and pushed (git and s3), as section 0 says.
    origin = make_origin(tmp_path, env, pipeline_from=tiny_project)
    laptop = clone(origin, tmp_path / "laptop", env)
    run(dvc("repro", "synth_cache"), laptop, env, timeout=300)
    run(["git", "add", "--all"], laptop, env)
    run(["git", "commit", "--quiet", "-m", "data stages"], laptop, env)
    run(["git", "push", "--quiet", "origin", "main"], laptop, env)
    run(dvc("push", "-r", "s3"), laptop, env)

    # Pod 1: pretrain_ts2vec, trained once, pushed, verified, branch pushed.
    environment = pod_env(env, pod_python, origin, tmp_path)
    environment["MOOLA_WORKDIR"] = str(tmp_path / "pod1" / "moola")
    first = bootstrap("pretrain_ts2vec", environment, tmp_path)
    assert "moola pod: pretrain_ts2vec must run: dvc.lock has no entry for it" in first.stdout
    # one epoch for each of the two folds' encoders, each trained once
    assert re.findall(r"^fold (\d+): epoch 1/1 ", first.stdout, re.MULTILINE) == ["0", "1"]
    assert "artifacts/ts2vec/encoder_v1.pt of pretrain_ts2vec verified on DVC remote 's3'" in first.stdout
    assert not (Path(environment["MOOLA_WORKDIR"]) / "data" / "synthetic_cache" / "v1_temporal_q0.9_r0.5").exists()

    # Laptop: merge the pod's branch with the printed command, push main.
    bring_home(laptop, first.stdout, env)
    assert (laptop / "artifacts" / "ts2vec" / "encoder_v1.pt").is_file()
    assert "pretrain_ts2vec" in run(["git", "log", "-1", "--format=%s"], laptop, env).stdout
    run(["git", "push", "--quiet", "origin", "main"], laptop, env)

    # Pod 2: train from main; the encoder is pulled, never retrained; only train's inputs move.
    environment["MOOLA_WORKDIR"] = str(tmp_path / "pod2" / "moola")
    second = bootstrap("train", environment, tmp_path)
    assert "moola pod: train must run: dvc.lock has no entry for it" in second.stdout
    assert len(re.findall(r"^epoch \d+/3 \|", second.stdout, re.MULTILINE)) >= 1
    assert "pretrain-ts2vec:" not in second.stdout  # the encoder came from the remote
    pod2 = Path(environment["MOOLA_WORKDIR"])
    assert not (pod2 / "data" / "unlabeled_windows" / "v1").exists()

    # Laptop: results home with the printed command; evaluate is all that is left to run.
    bring_home(laptop, second.stdout, env)
    assert "up to date" in run(dvc("status", "train"), laptop, env).stdout
    evaluate = run(dvc("repro", "evaluate"), laptop, env, timeout=300).stdout
    assert "Running stage 'evaluate'" in evaluate
    for stage in ("build_windows", "make_splits", "synth_cache", "pretrain_ts2vec", "train"):
        assert f"Running stage '{stage}'" not in evaluate

    # A third pod for train (say, started twice by mistake) finds the work done and moves nothing.
    run(["git", "push", "--quiet", "origin", "main"], laptop, env)
    environment["MOOLA_WORKDIR"] = str(tmp_path / "pod3" / "moola")
    heads = run(["git", "ls-remote", str(origin)], tmp_path, env).stdout
    third = bootstrap("train", environment, tmp_path)
    assert "train is already done" in third.stdout
    assert "pulled 0 bytes" in third.stdout and "dvc repro" not in third.stdout
    assert "done (nothing new for git); on your machine, at main: dvc pull -r s3 train" in third.stdout
    assert run(["git", "ls-remote", str(origin)], tmp_path, env).stdout == heads
    shutil.rmtree(tmp_path / "pod3", ignore_errors=True)
