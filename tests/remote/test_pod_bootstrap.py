"""scripts/pod/bootstrap.sh end to end on CPU against a real S3 server, as on a fresh pod."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from pod_project import REPO_ROOT, clone, make_origin, offline_make_setup
from s3server import SECRET_KEY, dvc, run, tree_digest

pytestmark = pytest.mark.slow

BOOTSTRAP = REPO_ROOT / "scripts" / "pod" / "bootstrap.sh"


def laptop_ran_upstream(tmp_path, env, project, stages):
    """Origin whose main holds the lock of `stages` (and their upstream), their data pushed to `s3`."""
    origin = make_origin(tmp_path, env, pipeline_from=project)
    laptop = clone(origin, tmp_path / "laptop", env)
    run(dvc("repro", *stages), laptop, env, timeout=300)
    run(["git", "add", "--all"], laptop, env)
    run(["git", "commit", "--quiet", "-m", "upstream stages"], laptop, env)
    run(["git", "push", "--quiet", "origin", "main"], laptop, env)
    run(dvc("push", "--remote", "s3"), laptop, env)
    return origin, laptop


def pod_env(env, pod_python, origin, tmp_path):
    """What a pod has: the repo URL and the remote's credentials; plus the pod's own python."""
    environment = dict(env)
    environment.update(
        MOOLA_REPO_URL=str(origin),
        MOOLA_WORKDIR=str(tmp_path / "pod" / "moola"),
        MOOLA_POD_REPORT=str(tmp_path / "pod-report.json"),
        PYTHON=str(pod_python),
        PIP_NO_BUILD_ISOLATION="0",  # pip's inverted switch: 0 = build with what is installed (offline)
    )
    environment.pop("PYTHONPATH", None)  # the pod imports the moola it installed from its clone
    # The pod's interpreter comes first; this environment's scripts (and its moola) are not visible.
    visible = [p for p in environment["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent]
    stand_in = offline_make_setup(tmp_path / "make-stand-in", pod_python, environment)
    environment["PATH"] = os.pathsep.join([str(stand_in), str(pod_python.parent), *visible])
    return environment


def bootstrap(stage, environment, tmp_path, check=True):
    return run(["bash", str(BOOTSTRAP), stage], tmp_path, environment, check=check, timeout=300)


def result_branch(origin, env, tmp_path):
    heads = run(["git", "ls-remote", "--heads", str(origin)], tmp_path, env).stdout
    branches = [line.split("refs/heads/")[1] for line in heads.splitlines() if "refs/heads/pod/" in line]
    assert len(branches) == 1, heads
    return branches[0]


def test_bootstrap_runs_the_train_stage_pulling_only_its_inputs_survives_an_outage_and_resumes(
    tiny_project, tmp_path, env, s3_server, pod_python
):
    origin, laptop = laptop_ran_upstream(tmp_path, env, tiny_project, ["synth_cache", "pretrain_ts2vec"])
    environment = pod_env(env, pod_python, origin, tmp_path)
    pod = Path(environment["MOOLA_WORKDIR"])
    inputs = [
        "artifacts/ts2vec/encoder_v1.pt",
        "data/labeled_windows/v1",
        "data/splits/fwd_chain_v3.json",
        "data/synthetic_cache/v1_temporal_q0.9_r0.5",
    ]

    # The remote is down when the pod starts: a clear error, a non-zero exit, nothing pushed.
    s3_server.stop()
    failed = bootstrap("train", environment, tmp_path, check=False)
    assert failed.returncode != 0
    assert "moola pod: error: endpoint http://127.0.0.1:" in failed.stderr
    assert "of DVC remote 's3' is unreachable: check AWS_ENDPOINT_URL" in failed.stderr
    assert "rerun the same command" in failed.stderr
    assert not any(line.rstrip()[-1:].isdigit() for line in failed.stderr.splitlines() if "error:" in line)
    assert "refs/heads/pod/" not in run(["git", "ls-remote", str(origin)], tmp_path, env).stdout

    # The same command again, once the remote is back, finishes the job in the same clone.
    s3_server.start()
    rerun = bootstrap("train", environment, tmp_path)
    assert "reusing the clone" in rerun.stdout
    assert "make setup: offline test stand-in" in rerun.stdout
    assert "bootstrap: installed with make setup in " in rerun.stdout
    report = json.loads(Path(environment["MOOLA_POD_REPORT"]).read_text())
    assert report["inputs"] == inputs
    assert report["bytes_pulled"] == report["bytes_inputs"] > 0  # exactly the inputs, nothing else
    assert not (pod / "data" / "unlabeled_windows" / "v1").exists()  # the pretraining corpus stayed remote
    assert report["device"]["type"] == "cpu" and report["pushed"] is True
    assert set(report["seconds"]) == {"install", "decide", "pull", "run", "push"}
    assert report["decision"] == "run" and report["reasons"] == ["dvc.lock has no entry for it"]
    # The pod ran the clone's own code, installed from the clone.
    where = run(
        [str(pod / ".venv" / "bin" / "python"), "-c", "import moola; print(moola.__file__)"], tmp_path, environment
    )
    assert where.stdout.strip() == str(pod / "src" / "moola" / "__init__.py")

    # A third clone gets the results: metrics through git, data through the remote.
    branch = result_branch(origin, env, tmp_path)
    assert branch.startswith("pod/train-")
    home = f"git fetch origin {branch} && git merge FETCH_HEAD && dvc pull -r s3 train"
    assert f"bootstrap: done; on your machine: {home}" in rerun.stdout
    third = clone(origin, tmp_path / "third", env, branch=branch)
    assert json.loads((third / "metrics" / "train.json").read_text())  # git-tracked metrics came back
    run(dvc("pull", "--remote", "s3", "--allow-missing"), third, env)  # evaluate has not run yet
    outputs = [
        "artifacts/models/enhanced_simple_lstm/fold_0.pt",
        "artifacts/models/enhanced_simple_lstm/record.json",
        *inputs,
    ]
    assert tree_digest(third, outputs) == tree_digest(pod, outputs)
    assert "up to date" in run(dvc("status", "train"), third, env).stdout

    # Once more: everything is done, so nothing runs and the branch does not move.
    head_before = run(["git", "ls-remote", str(origin), branch], tmp_path, env).stdout
    again = bootstrap("train", environment, tmp_path)
    assert "resuming local branch" in again.stdout
    for result in (failed, rerun, again):  # credentials never reach a log line
        assert SECRET_KEY not in result.stdout + result.stderr
    assert SECRET_KEY not in "".join(p.read_text() for p in pod.joinpath(".dvc").glob("config*"))
    assert "train is already done: dvc.lock is current and" in again.stdout
    assert "nothing new to push" in again.stdout
    assert "dvc repro" not in again.stdout
    assert run(["git", "ls-remote", str(origin), branch], tmp_path, env).stdout == head_before


@pytest.mark.parametrize("gpu_listed", [False, True])
def test_bootstrap_on_a_pod_without_a_usable_gpu_stops_before_cloning(tmp_path, env, pod_python, gpu_listed):
    environment = pod_env(env, pod_python, tmp_path / "no-such-origin.git", tmp_path)
    environment["RUNPOD_POD_ID"] = "test-pod"
    # No real nvidia-smi on PATH; with gpu_listed, a stand-in lists a GPU, but torch has no CUDA.
    path = [p for p in environment["PATH"].split(os.pathsep) if not (Path(p) / "nvidia-smi").exists()]
    if gpu_listed:
        fake_bin = tmp_path / "fake-bin"
        fake_bin.mkdir()
        (fake_bin / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: Stand-in GPU (UUID: GPU-0)'\n")
        (fake_bin / "nvidia-smi").chmod(0o755)
        path.insert(0, str(fake_bin))
    environment["PATH"] = os.pathsep.join(path)
    result = bootstrap("train", environment, tmp_path, check=False)
    assert result.returncode == 3
    if gpu_listed:
        assert "this pod has a GPU but" in result.stderr and "has no CUDA torch" in result.stderr
    else:
        assert "RUNPOD_POD_ID is set (this is a pod) but nvidia-smi lists no GPU" in result.stderr
    assert not Path(environment["MOOLA_WORKDIR"]).exists()  # nothing cloned, installed or pulled


def test_require_gpu_stops_the_pod_run_before_any_pull(tiny_project, tmp_path, env, s3_server, pod_python):
    params = (tiny_project / "params.yaml").read_text()
    assert "require_gpu: false" in params
    origin = make_origin(
        tmp_path, env, pipeline_from=tiny_project, params=params.replace("require_gpu: false", "require_gpu: true")
    )
    environment = pod_env(env, pod_python, origin, tmp_path)
    result = bootstrap("pretrain_ts2vec", environment, tmp_path, check=False)
    assert result.returncode == 1
    assert "no CUDA GPU is visible but base.require_gpu is true" in result.stderr
    pod = Path(environment["MOOLA_WORKDIR"])
    assert (pod / "dvc.yaml").is_file()  # it got as far as the clone and the install...
    assert not (pod / ".dvc" / "cache").exists()  # ...but not one byte was pulled
    assert "refs/heads/pod/" not in run(["git", "ls-remote", str(origin)], tmp_path, env).stdout
