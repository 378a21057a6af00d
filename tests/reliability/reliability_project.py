"""A tiny moola project as a real git + DVC repository, and the subprocess tools the reliability tests share.

The reliability tests drive moola exactly as a user does: `moola <command>` and `dvc ...` as
separate processes, with the working directory inside the project and no `MOOLA_ROOT`, so
`moola` finds the project from the folder it runs in.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent

STAGES = ("check_params", "build_windows", "make_splits", "synth_cache", "pretrain_ts2vec", "train", "evaluate")
# Folders whose files a command must never change when it refuses its input.
GUARDED = ("data", "artifacts", "metrics", "plots", "dvc.lock")
# Every stage output of the tiny project (as dvc.yaml names them with the tiny params).
OUTPUT_PATHS = (
    "data/labeled_windows",
    "data/unlabeled_windows",
    "data/splits",
    "data/synthetic_cache",
    "artifacts",
    "metrics",
    "plots",
)

# Distinctive random credentials, fresh for every test session, so a hit in any file or log
# can only mean the value travelled from the environment into that output.
SECRET_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8).upper(),
    "AWS_SECRET_ACCESS_KEY": "moolaTestAwsSecret" + secrets.token_urlsafe(24),
    "AWS_SESSION_TOKEN": "moolaTestSession" + secrets.token_urlsafe(32),
    "RUNPOD_API_KEY": "rpa_moolaTest" + secrets.token_hex(16).upper(),
    "GITHUB_TOKEN": "ghp_moolaTest" + secrets.token_hex(14),
    "HF_TOKEN": "hf_moolaTest" + secrets.token_hex(15),
}


def _shared_test_helpers():
    """tests/conftest.py, loaded by path: several test folders have a conftest module of that name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("moola_shared_test_helpers", REPO_ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_params(repo_params: dict) -> dict:
    """The shared tiny params (tests/conftest.py `tiny_params`), with epochs enough to be killed between.

    Pretraining and training get several epochs of many small steps (a few tenths of a second
    each), so a kill that follows an epoch line lands before the run ends, and a rerun has a
    saved state to resume from. Runs on CPU: the determinism promise checked here is the CPU one.
    """
    params = _shared_test_helpers().tiny_params(
        repo_params, pretrain_epochs=3, pretrain_batch_size=8, train_epochs=6, train_batch_size=4
    )
    params["base"]["device"] = "cpu"
    return params


def write_project(root: Path) -> Path:
    """Write a tiny project: dvc.yaml, shrunk params.yaml, two raw files and a copy of the package.

    The package copy is there because dvc.yaml names `src/moola/...` as code dependencies; the
    `moola` that runs is the installed one, built from the same files.
    """
    import yaml

    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dvc.yaml", root / "dvc.yaml")
    params = tiny_params(yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8")))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    _shared_test_helpers().write_tiny_raw_files(raw)
    shutil.copytree(
        REPO_ROOT / "src" / "moola", root / "src" / "moola", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copytree(REPO_ROOT / "requirements", root / "requirements")  # build_windows depends on the lock
    return root


def subprocess_env(cwd: Path | None = None) -> dict[str, str]:
    """Environment for moola and dvc subprocesses: one thread, unbuffered, no MOOLA_ROOT, secrets set.

    The fake credentials are set for every command the reliability tests run, so any command
    that echoed its environment would be caught by the secret scans. When `cwd` is a project
    with its package copy, `moola` imports that copy: the very files dvc.yaml hashes as code
    dependencies, frozen when the session began, so runs compared with each other never mix two
    versions of a working tree that is being edited.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("MOOLA_ROOT", "RUNPOD_POD_ID")}
    if cwd is not None and (Path(cwd) / "src" / "moola" / "__init__.py").is_file():
        env["PYTHONPATH"] = str(Path(cwd).resolve() / "src")
    env.update(SECRET_ENV)
    env.update(
        PATH=f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}",
        MOOLA_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",  # progress lines arrive as printed, so a kill can follow a line
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="moola tests",
        GIT_AUTHOR_EMAIL="tests@moola.invalid",
        GIT_COMMITTER_NAME="moola tests",
        GIT_COMMITTER_EMAIL="tests@moola.invalid",
    )
    return env


def run(cmd: list[str], cwd: Path, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess:
    """Run a command to completion with the shared environment; with check, fail showing its output."""
    result = subprocess.run(cmd, cwd=cwd, env=subprocess_env(cwd), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def dvc(root: Path, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """`dvc <args>` in `root`."""
    return run([str(BIN_DIR / "dvc"), *args], root, timeout=timeout, check=check)


def git(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`git <args>` in `root` (always checked)."""
    return run(["git", *args], root, timeout=60, check=True)


def moola_command(*args: str) -> list[str]:
    """The argv of `moola <args>` as the console script runs it."""
    return [str(BIN_DIR / "moola"), *args]


def new_repository(root: Path, edit: Callable[[Path], None] | None = None) -> Path:
    """`root` made a committed git + DVC repository of the tiny project; `edit(root)` runs before the commit."""
    root.mkdir()
    write_project(root)
    if edit is not None:
        edit(root)
    init_repository(root)
    return root


def init_repository(root: Path) -> None:
    """git init + dvc init + one commit of the whole project (queued experiments see only commits).

    The git remote URL carries the fake GitHub token, as a clone made with a token does, so an
    output that recorded the remote would show up in the secret scan.
    """
    git(root, "init", "-q")
    git(
        root, "remote", "add", "origin", f"https://x-access-token:{SECRET_ENV['GITHUB_TOKEN']}@github.invalid/moola.git"
    )
    dvc(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "tiny moola project")


@dataclass
class StreamedRun:
    """A process run with its output read line by line, possibly killed on a trigger."""

    returncode: int
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, line)
    killed: bool = False
    killed_at: float | None = None
    timed_out: bool = False

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def run_streaming(
    cmd: list[str],
    cwd: Path,
    kill_after_line: Callable[[str], bool] | None = None,
    kill_after_seconds: float | None = None,
    timeout: float = 300,
    on_line: Callable[[str, subprocess.Popen], None] | None = None,
) -> StreamedRun:
    """Run `cmd` in its own process group; SIGKILL the whole group on a line or at a time.

    Killing the group, not just the first process, is what a lost machine does: `dvc repro`
    and the `moola` stage it started die together, with no chance to clean up.

    Args:
        cmd: the argv.
        cwd: working directory.
        kill_after_line: kill right after the first output line for which this returns True.
        kill_after_seconds: kill at this many seconds after the start (if still running).
        timeout: kill and fail after this long.
        on_line: called with every output line as it arrives and the running process.

    Returns:
        The StreamedRun (returncode -9 when killed).
    """
    started = time.monotonic()
    process = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=subprocess_env(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    result = StreamedRun(returncode=0)
    lock = threading.Lock()

    def kill(reason_time: float) -> None:
        with lock:
            if result.killed or process.poll() is not None:
                return
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            result.killed, result.killed_at = True, reason_time

    timer = None
    if kill_after_seconds is not None:
        timer = threading.Timer(kill_after_seconds, lambda: kill(time.monotonic() - started))
        timer.start()

    def give_up() -> None:
        result.timed_out = True
        kill(time.monotonic() - started)

    watchdog = threading.Timer(timeout, give_up)
    watchdog.start()
    try:
        assert process.stdout is not None
        for raw_line in process.stdout:
            now = time.monotonic() - started
            line = raw_line.rstrip("\n")
            result.lines.append((now, line))
            if on_line is not None:
                on_line(line, process)
            if kill_after_line is not None and kill_after_line(line):
                kill(now)
        result.returncode = process.wait()
    finally:
        watchdog.cancel()
        if timer is not None:
            timer.cancel()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert not result.timed_out, f"{' '.join(cmd)} ran past {timeout} s:\n{result.text}"
    return result


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot(root: Path, names: tuple[str, ...] = GUARDED) -> dict[str, str]:
    """sha256 of every file under the named folders (or the named files) of `root`."""
    hashes = {}
    for name in names:
        base = root / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
        for file in files:
            hashes[file.relative_to(root).as_posix()] = sha256_file(file)
    return hashes


def copy_project(source: Path, target: Path, *, outputs: bool = True, dvc_cache: bool = False) -> Path:
    """Copy a project folder (with its .git); optionally without stage outputs, dvc.lock and the DVC cache.

    Args:
        source: the prepared project.
        target: where the copy goes (must not exist).
        outputs: keep the stage outputs and dvc.lock; without them the copy is a clean checkout
            that has never run.
        dvc_cache: keep .dvc/cache (and with it DVC's run cache). Without it `dvc repro` cannot
            restore an output from an earlier run: every stage really runs.
    """
    skipped = set() if dvc_cache else {".dvc/cache", ".dvc/tmp"}
    if not outputs:
        skipped |= set(OUTPUT_PATHS) | {"dvc.lock"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(source).as_posix()
        return {n for n in names if (n if rel == "." else f"{rel}/{n}") in skipped or n == "__pycache__"}

    shutil.copytree(source, target, ignore=ignore, symlinks=True)
    return target


def read_lock(root: Path) -> dict:
    """dvc.lock of a project, parsed."""
    import yaml

    return yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))


def lock_outs(lock: dict) -> dict[str, str]:
    """{output path: md5} over every stage of a parsed dvc.lock."""
    return {out["path"]: out.get("md5") for stage in lock["stages"].values() for out in stage.get("outs", [])}


def stage_outs(lock: dict, stage: str) -> list[str]:
    """The output paths of one stage in a parsed dvc.lock."""
    return [out["path"] for out in lock["stages"][stage].get("outs", [])]


def hidden_temporaries(root: Path) -> list[str]:
    """Leftover `.<name>.tmp-*` files or folders of moola.io anywhere in the project's outputs."""
    found = []
    for name in OUTPUT_PATHS:
        base = root / name
        if base.is_dir():
            found += [p.relative_to(root).as_posix() for p in base.rglob(".*.tmp-*")]
    return sorted(found)
