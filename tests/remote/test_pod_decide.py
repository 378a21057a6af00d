"""`moola pod run` decides before it pulls: done on the remote, must run, or cannot; remote errors in one line."""

from __future__ import annotations

import pytest
from pod_project import clone, make_origin
from s3server import ACCESS_KEY, BUCKET, dvc, run

from moola.errors import MoolaError
from moola.remote.decide import decide
from moola.remote.local_config import restore_config, temporary_remote_config
from moola.remote.pod import PodJob, dvc_command, run_logged, run_pod_job
from moola.remote.store import RemoteStore, open_repo

pytestmark = pytest.mark.slow  # about 40 s: several clones, DVC runs and a real S3 server


@pytest.fixture
def toy(tmp_path, env, monkeypatch):
    """(origin, clone) of the toy pipeline; prepare and fit ran in the clone, nothing is pushed."""
    origin = make_origin(tmp_path, env)
    repo = clone(origin, tmp_path / "clone", env)
    run(dvc("repro", "fit"), repo, env)
    run(["git", "add", "--all"], repo, env)
    run(["git", "commit", "--quiet", "-m", "prepare and fit"], repo, env)
    run(["git", "push", "--quiet", "origin", "main"], repo, env)
    for name, value in env.items():
        if name.startswith(("AWS_", "GIT_CONFIG", "DVC_")):
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("RUNPOD_POD_ID", raising=False)
    monkeypatch.chdir(repo)
    return origin, repo


def decision_of(repo, stage):
    with open_repo(repo) as dvc_repo:
        return decide(dvc_repo, repo, stage, RemoteStore(dvc_repo, "s3"))


def test_inputs_missing_on_the_remote_stop_the_pod_in_one_line_naming_them_and_the_fix(toy, capsys):
    origin, repo = toy
    decision = decision_of(repo, "train")
    assert decision.action == "cannot"
    assert decision.missing == {"artifacts/encoder.bin": "fit", "data/labeled": "prepare"}
    with pytest.raises(MoolaError) as caught:
        run_pod_job(PodJob(stage="train", root=repo, push=False))
    message = str(caught.value)
    assert "\n" not in message
    assert "artifacts/encoder.bin, data/labeled not on DVC remote 's3'" in message
    assert "`dvc repro fit prepare && dvc push -r s3`" in message
    assert not (repo / "artifacts" / "model.bin").exists()


def test_a_current_lock_without_its_outputs_on_the_remote_runs_and_then_is_done(toy, tmp_path, env, capsys):
    origin, repo = toy
    # The trap of a committed lock: train ran here and its lock is committed, but nothing was pushed.
    run(dvc("repro", "train"), repo, env)
    run(["git", "add", "--all"], repo, env)
    run(["git", "commit", "--quiet", "-m", "train ran on the laptop"], repo, env)
    run(["git", "push", "--quiet", "origin", "main"], repo, env)
    run(dvc("push", "--remote", "s3", "prepare", "fit"), repo, env)  # the inputs only

    pod = clone(origin, tmp_path / "pod", env)
    decision = decision_of(pod, "train")
    assert decision.action == "run"
    assert decision.reasons == ["dvc.lock is current but artifacts/model.bin is not on the remote"]
    report = run_pod_job(PodJob(stage="train", root=pod, branch="pod/train"))
    assert report.decision == "run" and report.pushed
    assert report.bytes_pulled == report.bytes_inputs > 0  # exactly the inputs
    assert not (pod / "data" / "unlabeled").exists()

    # The run reproduced the committed lock, so there is no commit and no branch that repeats main.
    assert "nothing new to push" in capsys.readouterr().out
    assert run(["git", "ls-remote", str(origin), "pod/train"], tmp_path, env).stdout == ""

    # Now the outputs are on the remote: a new pod pulls nothing, runs nothing, moves no branch.
    second = clone(origin, tmp_path / "second", env)
    assert decision_of(second, "train").action == "done"
    head = run(["git", "ls-remote", str(origin)], tmp_path, env).stdout
    capsys.readouterr()
    again = run_pod_job(PodJob(stage="train", root=second, branch="pod/train"))
    out = capsys.readouterr().out
    assert again.decision == "done" and again.bytes_pulled == 0
    assert "train is already done: dvc.lock is current and artifacts/model.bin is on DVC remote 's3'" in out
    assert not (second / ".dvc" / "cache").exists()  # not one object fetched
    assert run(["git", "ls-remote", str(origin)], tmp_path, env).stdout == head


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"AWS_SECRET_ACCESS_KEY": "wrong-secret"}, "refused the secret: AWS_SECRET_ACCESS_KEY does not belong"),
        ({"AWS_ACCESS_KEY_ID": "wrong-key"}, "does not know the access key AWS_ACCESS_KEY_ID"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "endpoint http://127.0.0.1:9 of DVC remote 's3' is unreachable"),
        ({"MOOLA_DVC_URL": "s3://no-such-bucket/cache"}, "bucket 'no-such-bucket' does not exist at http://127.0.0.1:"),
    ],
)
def test_each_remote_failure_is_one_line_naming_what_to_check(toy, monkeypatch, change, expected):
    origin, repo = toy
    url = change.pop("MOOLA_DVC_URL", None)
    for name, value in change.items():
        monkeypatch.setenv(name, value)
    before = (repo / ".dvc" / "config.local").exists()
    with pytest.raises(MoolaError) as caught:
        run_pod_job(PodJob(stage="train", root=repo, remote_url=url, push=False))
    message = str(caught.value)
    assert "\n" not in message and expected in message, message
    assert ACCESS_KEY not in message or "wrong" in message
    assert (repo / ".dvc" / "config.local").exists() == before  # the job's url did not stay behind


def test_the_job_url_is_put_back_even_after_a_killed_job(toy):
    origin, repo = toy
    local = repo / ".dvc" / "config.local"
    local.write_text("[core]\n    no_scm = false\n")
    original = local.read_text()
    with temporary_remote_config(repo, "s3", f"s3://{BUCKET}/elsewhere", run_logged, dvc_command):
        assert "elsewhere" in local.read_text()
    assert local.read_text() == original
    # A job killed inside the block leaves its saved copy; the next job puts it back first.
    with pytest.raises(KeyboardInterrupt):
        with temporary_remote_config(repo, "s3", f"s3://{BUCKET}/elsewhere", run_logged, dvc_command):
            saved = (repo / ".dvc" / "tmp" / "moola-pod-config.local.saved").read_text()
            raise KeyboardInterrupt
    assert local.read_text() == original == saved
    local.write_text(local.read_text() + "['remote \"s3\"']\n    url = s3://left/behind\n")
    (repo / ".dvc" / "tmp" / "moola-pod-config.local.saved").write_text(original)  # as a SIGKILL leaves it
    assert restore_config(repo) is True
    assert local.read_text() == original
