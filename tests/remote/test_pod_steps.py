"""The pieces of `moola pod run` on their own: what it pulls, how failures read, the device check."""

from __future__ import annotations

import sys

import pytest
from pod_project import clone, make_origin
from s3server import client_env, dvc, run

from moola import cli
from moola.errors import MoolaError
from moola.remote.pod import PodJob, plan_stage, result_branch, run_logged, run_pod_job
from moola.remote.store import open_repo, remote_facts


@pytest.fixture
def toy_clone(tmp_path, env, monkeypatch):
    """A clone of the toy pipeline where prepare and fit have run, with the S3 server reachable."""
    origin = make_origin(tmp_path, env)
    repo = clone(origin, tmp_path / "clone", env)
    run(dvc("repro", "fit"), repo, env)
    for name, value in env.items():
        if name.startswith(("AWS_", "GIT_CONFIG", "DVC_")):
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("RUNPOD_POD_ID", raising=False)
    monkeypatch.chdir(repo)
    return repo


def test_plan_lists_only_the_cached_direct_inputs_recorded_in_the_lock(toy_clone):
    plan = plan_stage(toy_clone, "train")
    assert plan.inputs == ["artifacts/encoder.bin", "data/labeled"]  # not data/unlabeled, not code
    assert plan.git_outputs == ["dvc.lock", "metrics/fit.json", "metrics/train.json"]
    assert plan_stage(toy_clone, "fit").inputs == ["data/unlabeled"]
    assert plan_stage(toy_clone, "prepare").inputs == []  # raw data is in git


def test_plan_skips_inputs_that_were_never_produced(tmp_path, monkeypatch):
    env = client_env(None, tmp_path)
    repo = clone(make_origin(tmp_path, env), tmp_path / "clone", env)
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", env["DVC_SITE_CACHE_DIR"])
    # Nothing ran yet: `dvc repro train` will produce its inputs on the pod, so none is pulled.
    assert plan_stage(repo, "train").inputs == []


def test_plan_names_the_known_stages_for_a_typo(toy_clone):
    with pytest.raises(MoolaError, match=r"no stage 'trian' in .*dvc.yaml: choose one of fit, prepare, train"):
        plan_stage(toy_clone, "trian")


def test_a_failing_command_becomes_one_line_with_its_cause_and_what_to_do(tmp_path):
    script = "import sys; sys.stderr.write('progress\\nERROR: the cause\\nERROR: the summary\\n'); sys.exit(3)"
    with pytest.raises(MoolaError) as caught:
        run_logged([sys.executable, "-c", script], "doing the thing", tmp_path, "fix it and rerun")
    message = str(caught.value)
    assert "\n" not in message
    assert message == "doing the thing failed (exit 3): the cause; the summary -- fix it and rerun"
    with pytest.raises(MoolaError, match="was not found on PATH"):
        run_logged(["no-such-program-moola"], "running it", tmp_path, "install it")


def test_unknown_remote_and_bad_branch_are_refused_before_anything_moves(toy_clone):
    with (
        open_repo(toy_clone) as repo,
        pytest.raises(MoolaError, match=r"DVC remote 'nope' is not configured .*known: local, s3"),
    ):
        remote_facts(repo, "nope")
    with pytest.raises(MoolaError, match="not a valid git branch name"):
        result_branch(toy_clone, "bad..name")
    assert result_branch(toy_clone, None) == "main"


def test_run_without_push_runs_the_stage_and_uploads_nothing(toy_clone, env, s3_server, capsys):
    run(dvc("push", "--remote", "s3"), toy_clone, env)  # the inputs are on the remote
    pushed = s3_server.bucket_bytes()
    report = run_pod_job(PodJob(stage="train", root=toy_clone, push=False))
    assert s3_server.bucket_bytes() == pushed
    assert (toy_clone / "artifacts" / "model.bin").is_file()
    assert report.pushed is False and "push" not in report.seconds
    assert report.inputs == ["artifacts/encoder.bin", "data/labeled"]
    assert report.bytes_pulled == 0  # everything was already in this clone's cache
    assert "results stay on this machine" in capsys.readouterr().out


def test_on_a_pod_without_gpu_the_run_stops_before_reading_the_pipeline(toy_clone, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setenv("RUNPOD_POD_ID", "pod-without-gpu")
    (toy_clone / "dvc.lock").unlink()  # anything past the device check would now behave differently
    assert cli.main(["pod", "run", "train", "--no-push"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no CUDA GPU is visible but RUNPOD_POD_ID is set (this is a pod)" in err
    assert not (toy_clone / "artifacts" / "model.bin").exists()


def test_pod_check_names_the_device(toy_clone, capsys):
    assert cli.main(["pod", "check"]) == 0
    out = capsys.readouterr().out
    for key in ('"type"', '"gpu_name"', '"cuda_version"', '"torch"', '"on_pod": false'):
        assert key in out


@pytest.mark.parametrize(
    "device, require_gpu, pod_id, message",
    [
        ("auto", True, None, "no CUDA GPU is visible but base.require_gpu is true"),
        ("auto", False, "pod-1", "no CUDA GPU is visible but RUNPOD_POD_ID is set (this is a pod)"),
        ("cuda", False, None, "base.device is cuda but no CUDA GPU is visible"),
    ],
)
def test_a_missing_gpu_is_refused_whenever_one_is_required(monkeypatch, device, require_gpu, pod_id, message):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from moola.device import resolve_device

    if pod_id:
        monkeypatch.setenv("RUNPOD_POD_ID", pod_id)
    else:
        monkeypatch.delenv("RUNPOD_POD_ID", raising=False)
    with pytest.raises(MoolaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_device(device, require_gpu)


def test_auto_falls_back_to_cpu_off_a_pod_and_says_so(monkeypatch):
    torch = pytest.importorskip("torch")
    from moola.device import describe_device, resolve_device

    monkeypatch.delenv("RUNPOD_POD_ID", raising=False)
    device = resolve_device("auto", False)
    facts = describe_device(device)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert facts["type"] == device.type and facts["torch"] == torch.__version__
    assert facts["cuda_version"] == torch.version.cuda and facts["on_pod"] is False
    assert (facts["gpu_name"] is None) == (device.type == "cpu")


def test_pod_section_reads_the_upload_interval_and_refuses_a_negative_one():
    from pod_project import REPO_ROOT

    from moola.params import load_params, load_pod

    assert load_pod(load_params(REPO_ROOT / "params.yaml")).state_upload_minutes == 5.0
    assert load_pod({}).state_upload_minutes == 5.0  # a project without the section keeps the default
    assert load_pod({"pod": {"state_upload_minutes": 0}}).state_upload_minutes == 0.0
    with pytest.raises(MoolaError, match=r"params key pod.state_upload_minutes: must be >= 0"):
        load_pod({"pod": {"state_upload_minutes": -1}})
    with pytest.raises(MoolaError, match=r"unknown params key pod.upload_minutes"):
        load_pod({"pod": {"upload_minutes": 1}})


def test_resume_state_paths_come_from_the_stage_params(tmp_path):
    from moola.remote.resume import resume_state_paths

    (tmp_path / "params.yaml").write_text("model: adapter_lstm\npretrain_ts2vec:\n  output: artifacts/ts2vec/enc.pt\n")
    models = tmp_path / "artifacts" / "models"
    assert resume_state_paths(tmp_path, "train") == [
        models / ".adapter_lstm.fold_0.state",
        models / ".adapter_lstm.ablation_pretraining.fold_0.state",
        models / ".adapter_lstm.ablation_augmentation.fold_0.state",
    ]
    (tmp_path / "params.yaml").write_text(
        "model: adapter_lstm\nevaluate:\n  ablations: []\npretrain_ts2vec:\n  output: artifacts/ts2vec/enc.pt\n"
    )
    assert resume_state_paths(tmp_path, "train") == [models / ".adapter_lstm.fold_0.state"]
    assert resume_state_paths(tmp_path, "pretrain_ts2vec") == [tmp_path / "artifacts" / "ts2vec" / ".enc.pt.state"]
    assert resume_state_paths(tmp_path, "evaluate") == []


def test_state_uploader_sends_each_saved_state_once_and_a_last_one_at_the_end(tmp_path):
    from moola.remote.resume import StateUploader

    class Store:
        def __init__(self):
            self.sent = []

        def upload(self, path, key):
            self.sent.append((key, path.read_bytes()))
            return path.stat().st_size

    store, state = Store(), tmp_path / ".model.pt.state"
    state.write_bytes(b"from an earlier run")  # present before the run: not uploaded until it changes
    with StateUploader(store, "key-1", [state], interval_s=3600, log=lambda line: None, poll_s=0.01) as uploader:
        uploader.flush()
        assert store.sent == []
        state.write_bytes(b"epoch 1")
        uploader.flush()
        state.write_bytes(b"epoch 2!")  # within the interval: kept for the next chance
        import time

        time.sleep(0.05)
        assert store.sent == [("key-1", b"epoch 1")]
    assert store.sent == [("key-1", b"epoch 1"), ("key-1", b"epoch 2!")]  # the exit flushes the last save
    assert uploader.uploads == 2 and uploader.bytes_uploaded == len(b"epoch 1") + len(b"epoch 2!")


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied",
            "denied access: the key is valid but may not read or write bucket 'moola-dvc'; check the key's permissions",
        ),
        (
            "botocore.exceptions.NoCredentialsError: Unable to locate credentials",
            "no credentials found: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ),
        (
            "An error occurred (NoSuchBucket) when calling the ListObjectsV2 operation",
            "bucket 'moola-dvc' does not exist at https://s3.example.test: create it",
        ),
    ],
)
def test_failure_texts_without_a_server_case_are_explained_too(text, expected):
    from moola.remote.store import RemoteFacts, explain_remote_failure

    facts = RemoteFacts(name="s3", url="s3://moola-dvc/cache", endpoint="https://s3.example.test")
    message = explain_remote_failure(text, facts)
    assert message is not None and expected in message and "\n" not in message
    assert explain_remote_failure("some unrelated failure", facts) is None
