"""The RunPod launcher's request builder (no SDK needed) and its always-terminate loop (fake SDK)."""

from __future__ import annotations

import json
import re
import sys
import types

import pytest

from moola import cli
from moola.errors import MoolaError
from moola.remote.launcher import GIT_TOKEN_HELPER_ENV, PodRequest, check_text, follow_pod, pod_command

UNSAFE = [
    'say "hi"',
    "back\\slash",
    "two\nlines",
    "carriage\rreturn",
    "tab\there",
    '"}) { podTerminate(input: {podId: "x"}) } #',
    "nul \x00 byte",
    "delete \x7f char",
]
SAFE = ["plain", "bash -c 'echo $HOME; ls {a,b}'", "{{ RUNPOD_SECRET_token }}", "unicode é 漢字"]

# A GraphQL string literal: a quote, then escaped characters or anything but quote/backslash/newline.
GRAPHQL_STRING = re.compile(r'"((?:[^"\\\n\r]|\\.)*)"')


def base_request(**changes) -> PodRequest:
    fields = dict(name="moola-train", image_name="runpod/pytorch:2.4.0", gpu_type_id="NVIDIA A40")
    fields.update(changes)
    return PodRequest(**fields)


@pytest.mark.parametrize("value", UNSAFE)
def test_free_text_that_could_break_out_of_a_string_is_refused(value):
    with pytest.raises(MoolaError, match="cannot carry safely"):
        base_request(env={"NOTE": value}).sdk_arguments()
    with pytest.raises(MoolaError, match="container command"):
        base_request(docker_args=value).sdk_arguments()


@pytest.mark.parametrize("value", SAFE)
def test_safe_text_passes_unchanged_and_stays_one_graphql_string(value):
    arguments = base_request(env={"NOTE": value}, docker_args=value).sdk_arguments()
    assert arguments["env"]["NOTE"] == value and arguments["docker_args"] == value  # no escaping
    field = f'dockerArgs: "{arguments["docker_args"]}"'  # how a GraphQL-era SDK writes it
    match = GRAPHQL_STRING.search(field)
    assert match is not None and match.end() == len(field) and match.group(1) == value
    assert json.loads(json.dumps(arguments)) == arguments  # and how a REST-era SDK sends it


@pytest.mark.parametrize("field", ["name", "image_name", "gpu_type_id", "network_volume_id", "data_center_id"])
@pytest.mark.parametrize("bad", ['x"y', "x\\y", "x\ny", "", " leading-space", "x\x7fy"])
def test_identifiers_with_unsafe_characters_are_refused(field, bad):
    with pytest.raises(MoolaError, match="cannot carry safely"):
        base_request(**{field: bad}).sdk_arguments()


def test_env_names_and_counts_are_checked():
    with pytest.raises(MoolaError, match="environment name"):
        base_request(env={"BAD-NAME": "x"}).sdk_arguments()
    with pytest.raises(MoolaError, match="gpu-count"):
        base_request(gpu_count=0).sdk_arguments()


def test_the_pod_command_and_the_token_helper_are_safe_text():
    assert check_text(pod_command("train"), "command") == pod_command("train")
    for value in GIT_TOKEN_HELPER_ENV.values():
        assert check_text(value, "helper") == value
    assert "$MOOLA_GIT_TOKEN" in GIT_TOKEN_HELPER_ENV["GIT_CONFIG_VALUE_0"]  # expanded on the pod only


def launch(capsys, *extra):
    argv = [
        "pod",
        "launch",
        "train",
        "--repo-url",
        "https://github.com/o/moola.git",
        "--network-volume",
        "vol123",
        "--data-center",
        "EU-RO-1",
        *extra,
    ]
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_dry_run_prints_the_exact_request_without_the_sdk_and_hides_credentials(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "runpod", None)  # importing it would fail: the dry run must not try
    code, out, err = launch(
        capsys,
        "--dry-run",
        "--secret",
        "AWS_SECRET_ACCESS_KEY=volume_secret",
        "--secret",
        "MOOLA_GIT_TOKEN=gh",
        "--env",
        "AWS_ACCESS_KEY_ID=AKIARAWVALUE",
        "--env",
        "AWS_ENDPOINT_URL=https://s3api-eu-ro-1.runpod.io/",
    )
    assert code == 0, err
    request = json.loads(out)["runpod.create_pod"]
    assert request["network_volume_id"] == "vol123" and request["data_center_id"] == "EU-RO-1"
    assert request["env"]["AWS_SECRET_ACCESS_KEY"] == "{{ RUNPOD_SECRET_volume_secret }}"
    assert request["env"]["AWS_ENDPOINT_URL"] == "https://s3api-eu-ro-1.runpod.io/"
    assert request["env"]["MOOLA_GIT_REF"] == "main"
    assert "bootstrap.sh train" in request["docker_args"]
    assert "AKIARAWVALUE" not in out  # a raw credential is sent as given but never printed
    assert request["env"]["AWS_ACCESS_KEY_ID"] == "***"
    assert request["env"]["MOOLA_GIT_TOKEN"] == "{{ RUNPOD_SECRET_gh }}"
    assert request["env"]["GIT_CONFIG_KEY_0"] == "credential.helper"


def test_a_token_inside_the_repository_url_is_refused(capsys):
    code = cli.main(
        [
            "pod",
            "launch",
            "train",
            "--dry-run",
            "--repo-url",
            "https://x-access-token:ghp_SECRET@github.com/o/moola.git",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1 and captured.out == "" and "ghp_SECRET" not in captured.err
    assert "--secret MOOLA_GIT_TOKEN=SECRET_NAME" in captured.err


def test_an_unsafe_value_fails_before_anything_is_printed(capsys):
    code, out, err = launch(capsys, "--dry-run", "--gpu", 'A40", cloudType: SECURE, x: "')
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "GPU type" in err


class FakeRunpod(types.ModuleType):
    """Stands in for the SDK: records calls; get_pod replays `states` (an exception is raised)."""

    def __init__(self, states):
        super().__init__("runpod")
        self.states = list(states)
        self.created = None
        self.terminated = []

    def create_pod(self, **arguments):
        self.created = arguments
        return {"id": "pod-1"}

    def get_pod(self, pod_id):
        state = self.states.pop(0)
        if isinstance(state, Exception):
            raise state
        return state

    def terminate_pod(self, pod_id):
        self.terminated.append(pod_id)


def test_launch_follows_the_pod_until_it_is_gone_and_still_terminates(capsys, monkeypatch):
    fake = FakeRunpod(
        [
            {"desiredStatus": "RUNNING", "runtime": None},
            {"desiredStatus": "RUNNING", "runtime": {"uptimeInSeconds": 30}},
            None,
        ]
    )
    monkeypatch.setitem(sys.modules, "runpod", fake)
    monkeypatch.setenv("RUNPOD_API_KEY", "test-key")
    code, out, err = launch(capsys, "--poll-seconds", "0")
    assert code == 0, err
    assert fake.created["gpu_type_id"] == "NVIDIA GeForce RTX 4090"
    assert "pod pod-1: RUNNING, starting" in out and "pod pod-1: RUNNING, up 30 s" in out
    assert fake.terminated == ["pod-1"]


def test_launch_terminates_the_pod_when_following_it_fails(capsys, monkeypatch):
    fake = FakeRunpod([ConnectionError("network dropped")])
    monkeypatch.setitem(sys.modules, "runpod", fake)
    monkeypatch.setenv("RUNPOD_API_KEY", "test-key")
    with pytest.raises(ConnectionError):
        launch(capsys, "--poll-seconds", "0")
    assert fake.terminated == ["pod-1"]


def test_follow_gives_up_at_the_deadline():
    now = [0.0]
    fake = FakeRunpod([{"desiredStatus": "RUNNING", "runtime": {"uptimeInSeconds": 1}}] * 10)
    lines = []
    finished = follow_pod(
        fake,
        "pod-1",
        timeout_s=30,
        poll_s=10,
        log=lines.append,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert finished is False and "still running" in lines[-1]


def test_follow_treats_a_restarted_container_or_an_exited_pod_as_finished():
    lines = []
    restarted = FakeRunpod(
        [
            {"desiredStatus": "RUNNING", "runtime": {"uptimeInSeconds": 900}},
            {"desiredStatus": "RUNNING", "runtime": {"uptimeInSeconds": 4}},
        ]
    )
    assert follow_pod(restarted, "pod-1", timeout_s=60, poll_s=0, log=lines.append, sleep=lambda s: None)
    assert "container restarted after 900 s" in lines[-1]
    exited = FakeRunpod([{"desiredStatus": "EXITED", "runtime": None}])
    assert follow_pod(exited, "pod-1", timeout_s=60, poll_s=0, log=lines.append, sleep=lambda s: None)


def test_launch_without_an_api_key_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "runpod", FakeRunpod([]))
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    code, out, err = launch(capsys)
    assert code == 1 and "RUNPOD_API_KEY is not set" in err


def test_the_pod_command_clones_runs_the_bootstrap_keeps_a_log_and_removes_its_pod(tmp_path):
    import shlex
    import subprocess

    from pod_project import make_origin
    from s3server import client_env

    env = client_env(None, tmp_path)
    origin = make_origin(tmp_path, env)
    workspace = tmp_path / "workspace"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "runpodctl").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/runpodctl.args\n')
    (fake_bin / "runpodctl").chmod(0o755)
    env.update(
        PATH=f"{fake_bin}:{env['PATH']}",
        MOOLA_REPO_URL=str(origin),
        RUNPOD_POD_ID="pod-7",
        MOOLA_GIT_TOKEN="tok-never-stored",
        MOOLA_GIT_REF="no-such-ref",
        **GIT_TOKEN_HELPER_ENV,
    )
    env["MOOLA_WORKDIR"] = str(workspace / "moola")  # what the bootstrap's default becomes on a pod
    argv = shlex.split(pod_command("train").replace("/workspace", str(workspace)))
    assert argv[:2] == ["bash", "-c"]
    # The bootstrap stops early here (on a pod without GPU, or at the unknown ref): enough to see
    # that the quoting survives, the log is kept and the pod removes itself either way.
    subprocess.run(argv, env=env, cwd=tmp_path, timeout=120, capture_output=True)
    assert (workspace / "moola" / "scripts" / "pod" / "bootstrap.sh").is_file()  # cloned
    log = (workspace / "logs" / "moola-train.log").read_text()
    assert "bootstrap: error:" in log
    assert (tmp_path / "runpodctl.args").read_text().split() == ["remove", "pod", "pod-7"]
    assert "tok-never-stored" not in (workspace / "moola" / ".git" / "config").read_text()
