"""One stage on a fresh pod: check the GPU, pull only that stage's inputs, run it, push the results.

The pod starts with nothing but the repository and credentials. `run_pod_job` is what
`moola pod run` (and so `scripts/pod/bootstrap.sh`) executes once the package is installed:

1. device check (before any byte is pulled, so a mis-rented pod fails in seconds);
2. git identity and the DVC remote, from the environment (credentials are never written);
3. `dvc pull` of the stage's direct DVC-tracked inputs only;
4. `dvc repro --pull --allow-missing <stage>` (up-to-date upstream stages are skipped, not pulled);
5. `dvc push --run-cache`, then the lock and git-tracked metrics go back as a commit on a branch.

Every step is idempotent, so rerunning the same command after an interruption finishes the job.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from moola.errors import MoolaError

DEFAULT_REMOTE = "s3"
DEFAULT_GIT_NAME = "moola pod"
DEFAULT_GIT_EMAIL = "moola-pod@localhost"


@dataclasses.dataclass
class PodJob:
    """What one pod run does.

    Args:
        stage: the dvc.yaml stage to run (`pretrain_ts2vec`, `train`, ...).
        root: the repository's top folder (a git work tree with dvc.yaml).
        remote: the DVC remote to pull from and push to (a name in .dvc/config).
        remote_url: when set, replaces that remote's url in .dvc/config.local (`s3://bucket/path`).
        branch: the git branch that receives the result commit; None keeps the current branch
            name (a detached HEAD is refused).
        git_remote: the git remote that receives the branch.
        push: False runs and stops before any upload (a dry rehearsal of a pod).
    """

    stage: str
    root: Path
    remote: str = DEFAULT_REMOTE
    remote_url: str | None = None
    branch: str | None = None
    git_remote: str = "origin"
    push: bool = True


@dataclasses.dataclass
class PodReport:
    """What a pod run did, for the log line and the benchmark (`--report`)."""

    stage: str
    device: dict[str, Any]
    inputs: list[str]
    bytes_pulled: int = 0  # data objects fetched into the DVC cache by the input pull
    bytes_manifests: int = 0  # folder manifests fetched with them (a few hundred bytes each)
    bytes_inputs: int = 0  # size of the stage's inputs in the work tree after the pull
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    branch: str | None = None
    commit: str | None = None
    pushed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_logged(command: Sequence[str], what: str, cwd: Path, hint: str) -> str:
    """Run a command with its output streamed live; a failure becomes a one-line `MoolaError`.

    stderr is echoed line by line as it arrives and its error lines are kept, so the one-line
    message names the cause (DVC's first `ERROR` line, e.g. "failed to connect to s3 ...") and
    the summary (its last).

    Args:
        command: argv of the command.
        what: what the command does, for the message ("dvc pull of train's inputs").
        cwd: where to run it.
        hint: what to do about a failure.

    Returns:
        Everything the command wrote to stderr.
    """
    try:
        process = subprocess.Popen(
            list(command), cwd=cwd, stdout=None, stderr=subprocess.PIPE, text=True, errors="replace"
        )
    except FileNotFoundError:
        raise MoolaError(f"{what}: {command[0]!r} was not found on PATH: install it and rerun") from None
    collected: list[str] = []
    assert process.stderr is not None
    for line in process.stderr:
        sys.stderr.write(line)
        sys.stderr.flush()
        collected.append(line)
    code = process.wait()
    if code != 0:
        # DVC prints the cause first and a summary last; a stage prints "moola X: error: ...".
        errors = [
            line.strip().removeprefix("ERROR: ")
            for line in collected
            if line.strip().startswith(("ERROR", "fatal:", "error:")) or ": error: " in line
        ]
        if errors:
            cause = errors[0] if len(errors) == 1 else f"{errors[0]}; {errors[-1]}"
        else:
            cause = collected[-1].strip() if collected else "no message"
        raise MoolaError(f"{what} failed (exit {code}): {cause} -- {hint}")
    return "".join(collected)


def git_output(root: Path, *args: str) -> str:
    """Return the stripped stdout of `git <args>` in `root` ("" when git fails)."""
    completed = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    return completed.stdout.strip() if completed.returncode == 0 else ""


def dvc_command(*args: str) -> list[str]:
    """argv for the DVC of this interpreter (the one installed with moola), never another on PATH."""
    return [sys.executable, "-m", "dvc", *args]


def check_device(root: Path) -> dict[str, Any]:
    """Resolve `base.device` / `base.require_gpu` (a pod always needs a GPU) and describe it.

    Raises:
        MoolaError: a required GPU is missing; nothing has been pulled yet.
    """
    from moola.device import describe_device, resolve_device
    from moola.params import load_base, load_params

    base = load_base(load_params(root / "params.yaml"))
    return describe_device(resolve_device(base.device, base.require_gpu))


@dataclasses.dataclass
class StagePlan:
    """What a pod must fetch for one stage and which results travel back through git."""

    inputs: list[str]  # the stage's direct dependencies that dvc.lock records as cached outputs
    git_outputs: list[str]  # every stage's `cache: false` outputs (metrics, plots) and dvc.lock


def plan_stage(root: Path, stage_name: str) -> StagePlan:
    """Read the pipeline and return the stage's pull list and the git-tracked result paths.

    Code and git-tracked files are left out of the pull list: the clone already has them. A
    dependency that is a file inside another stage's output folder is listed as that file
    alone, so a granular pull fetches just it.

    Raises:
        MoolaError: dvc.yaml cannot be read, or the stage does not exist in it.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(os.fspath(root)) as repo:
            stages = list(repo.index.stages)
            pipeline_file = root / "dvc.yaml"
            by_name = {
                stage.name: stage
                for stage in stages
                if getattr(stage, "name", None) and Path(stage.path) == pipeline_file
            }
            if stage_name not in by_name:
                known = ", ".join(sorted(by_name))
                raise MoolaError(f"no stage {stage_name!r} in {root / 'dvc.yaml'}: choose one of {known}")
            # Only outputs recorded in dvc.lock can be pulled; one without a hash has never been
            # produced, and `dvc repro` will run its upstream stage on the pod instead.
            cached_outputs = [
                Path(out.fs_path) for stage in stages for out in stage.outs if out.use_cache and out.hash_info
            ]
            git_outputs = {"dvc.lock"}
            git_outputs.update(
                Path(out.fs_path).relative_to(root).as_posix()
                for stage in stages
                for out in stage.outs
                if not out.use_cache
            )
            inputs = set()
            for dep in by_name[stage_name].deps:
                dep_path = Path(dep.fs_path)
                if any(
                    dep_path == out or out in dep_path.parents or dep_path in out.parents
                    for out in cached_outputs
                ):
                    inputs.add(dep_path.relative_to(root).as_posix())
    except DvcException as exc:
        raise MoolaError(
            f"cannot read the DVC pipeline in {root} ({exc}): run moola pod in the repository "
            "and check its dvc.yaml and params.yaml"
        ) from None
    return StagePlan(inputs=sorted(inputs), git_outputs=sorted(git_outputs))


def tree_bytes(path: Path) -> int:
    """Total size in bytes of a file or of every file under a folder (0 when absent)."""
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def cache_bytes(root: Path) -> tuple[int, int]:
    """Bytes in the repository's DVC cache: (data objects, folder manifests `*.dir`).

    The run cache is not counted. Manifests are the small listings DVC fetches to know what a
    folder holds; they are reported apart so "bytes pulled" compares like with like.
    """
    data = manifests = 0
    folder = root / ".dvc" / "cache" / "files"
    if folder.is_dir():
        for file in folder.rglob("*"):
            if file.is_file():
                if file.name.endswith(".dir"):
                    manifests += file.stat().st_size
                else:
                    data += file.stat().st_size
    return data, manifests


def configure_git_identity(root: Path) -> None:
    """Give the clone a commit identity when it has none (repository-local config only)."""
    if not git_output(root, "config", "user.name"):
        name = os.environ.get("GIT_AUTHOR_NAME") or DEFAULT_GIT_NAME
        run_logged(["git", "config", "user.name", name], "setting git user.name", root, "check the clone")
    if not git_output(root, "config", "user.email"):
        email = os.environ.get("GIT_AUTHOR_EMAIL") or DEFAULT_GIT_EMAIL
        run_logged(["git", "config", "user.email", email], "setting git user.email", root, "check the clone")


def configure_remote(root: Path, remote: str, remote_url: str | None) -> None:
    """Make `remote` the default DVC remote of this clone (in .dvc/config.local, never committed).

    Credentials are not written anywhere: DVC's S3 client reads AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL, AWS_DEFAULT_REGION) from the environment.
    """
    listed = dvc_remotes(root)
    if remote not in listed:
        known = ", ".join(listed) or "none"
        raise MoolaError(
            f"DVC remote {remote!r} is not configured in .dvc/config (known: {known}): "
            f"add it with `dvc remote add {remote} s3://BUCKET/PATH` or pick another with --remote"
        )
    hint = "check .dvc/config and .dvc/config.local"
    if remote_url:
        run_logged(dvc_command("remote", "modify", "--local", remote, "url", remote_url),
                   f"setting the url of DVC remote {remote!r}", root, hint)
    run_logged(dvc_command("remote", "default", "--local", remote),
               f"making {remote!r} the default DVC remote", root, hint)


def dvc_remotes(root: Path) -> list[str]:
    """Return the names of the DVC remotes configured for `root` (all config levels merged)."""
    from dvc.repo import Repo

    with Repo(os.fspath(root)) as repo:
        return sorted(repo.config.get("remote", {}))


def result_branch(root: Path, requested: str | None) -> str:
    """Return the branch that will carry the result commit (the current one when not requested)."""
    if requested:
        if git_output(root, "check-ref-format", "--branch", requested) != requested:
            raise MoolaError(f"--branch {requested!r} is not a valid git branch name: choose another")
        return requested
    current = git_output(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    if not current:
        raise MoolaError("the clone is on a detached HEAD: pass --branch NAME for the result commit")
    return current


def commit_results(root: Path, stage: str, git_outputs: Sequence[str], device: dict[str, Any]) -> bool:
    """Commit dvc.lock and the git-tracked outputs (metrics, plots); False when nothing changed.

    Only pipeline results are staged (plus what DVC's autostage already staged), so stray
    files in the work tree never travel with the results.
    """
    hint = "check the clone's git state"
    present = [name for name in git_outputs if (root / name).exists()]
    if present:
        run_logged(["git", "add", "--all", "--", *present], "staging the results", root, hint)
    staged = subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=root)
    if staged.returncode == 0:
        return False
    where = device.get("gpu_name") or device.get("type", "cpu")
    message = f"pod: dvc repro {stage} on {where}"
    run_logged(["git", "commit", "--quiet", "-m", message], "committing the results", root, hint)
    return True


def run_pod_job(job: PodJob, log: Callable[[str], None] = print) -> PodReport:
    """Run one stage the pod way (see the module docstring) and return what happened.

    Args:
        job: the stage, remote and branch.
        log: where progress lines go.

    Returns:
        A `PodReport` with seconds per phase (pull, run, push) and bytes pulled.

    Raises:
        MoolaError: any failing step, with the failing command's own error and what to do.
            Steps already finished stay finished; rerunning the same command completes the job.
    """
    root = job.root
    if not (root / "dvc.yaml").is_file():
        raise MoolaError(f"no dvc.yaml in {root}: run moola pod from the repository's top folder")

    # 1. The device check comes first: a pod without a usable GPU must not pull a single byte.
    device = check_device(root)
    where = device["gpu_name"] or device["type"]
    log(f"moola pod: device {where} (torch {device['torch']}, CUDA {device['cuda_version']})")

    plan = plan_stage(root, job.stage)
    inputs = plan.inputs
    branch = result_branch(root, job.branch)
    configure_git_identity(root)
    configure_remote(root, job.remote, job.remote_url)
    report = PodReport(stage=job.stage, device=device, inputs=inputs, branch=branch)
    remote_hint = (
        f"check that DVC remote {job.remote!r} is reachable and the AWS_* credentials are set, "
        "then rerun the same command (finished steps are not repeated)"
    )

    started = time.perf_counter()
    before = cache_bytes(root)
    if inputs:
        log(f"moola pod: pulling {len(inputs)} input(s) of {job.stage}: {', '.join(inputs)}")
        run_logged(dvc_command("pull", "--remote", job.remote, *inputs),
                   f"dvc pull of {job.stage}'s inputs from remote {job.remote!r}", root, remote_hint)
    after = cache_bytes(root)
    report.bytes_pulled = after[0] - before[0]
    report.bytes_manifests = after[1] - before[1]
    report.bytes_inputs = sum(tree_bytes(root / name) for name in inputs)
    report.seconds["pull"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    log(f"moola pod: dvc repro {job.stage}")
    run_logged(dvc_command("repro", "--pull", "--allow-missing", job.stage),
               f"dvc repro {job.stage}", root,
               "read the stage's error above, fix it, and rerun (pulled inputs stay in the cache)")
    report.seconds["run"] = round(time.perf_counter() - started, 3)

    if not job.push:
        log("moola pod: --no-push given: results stay on this machine")
        return report
    started = time.perf_counter()
    # Data before the git ref: whoever sees the branch can always pull what it names.
    run_logged(dvc_command("push", "--run-cache", "--remote", job.remote),
               f"dvc push to remote {job.remote!r}", root, remote_hint)
    committed = commit_results(root, job.stage, plan.git_outputs, device)
    report.commit = git_output(root, "rev-parse", "HEAD")
    run_logged(["git", "push", "--quiet", job.git_remote, f"HEAD:refs/heads/{branch}"],
               f"git push of branch {branch!r} to {job.git_remote!r}", root,
               "check the repository URL's write access, then rerun the same command")
    report.pushed = True
    report.seconds["push"] = round(time.perf_counter() - started, 3)
    state = "new commit" if committed else "nothing new to commit"
    log(f"moola pod: pushed {job.stage} results to DVC remote {job.remote!r} and git branch {branch} ({state})")
    return report
