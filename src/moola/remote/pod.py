"""One stage on a fresh pod, done exactly once: decide, pull the inputs, run, push, verify, publish.

The pod starts with nothing but the repository and credentials. `run_pod_job` is what
`moola pod run` (and so `scripts/pod/bootstrap.sh`) executes once the package is installed:

1. device check (before any byte is pulled, so a mis-rented pod fails in seconds);
2. git identity; the DVC remote for this job only (.dvc/config.local, put back at the end);
3. decision from dvc.lock and the remote: already done (nothing pulled), must run, or cannot
   (inputs not on the remote: one line naming them and the command that makes them);
4. `dvc pull --run-cache` of the stage's direct inputs only, and the resumable state an
   interrupted pod saved for exactly these inputs;
5. `dvc repro --single-item --pull <stage>` (restored from the run cache when an earlier pod
   pushed it), its resumable state copied to the remote every `pod.state_upload_minutes`;
6. `dvc push --run-cache`, the metrics and plots objects, a check that every output is on the
   remote, then the lock and git-tracked results as a commit on a branch.

Every step is idempotent: rerunning the same command, or a new pod, repeats no finished work.
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
    decision: str = ""  # done (already on the remote) | run
    reasons: list[str] = dataclasses.field(default_factory=list)  # why it ran
    state_uploads: int = 0  # resumable-state copies sent to the remote during the run
    state_bytes_uploaded: int = 0
    state_bytes_downloaded: int = 0  # a state an earlier pod saved, fetched before the run

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_logged(
    command: Sequence[str], what: str, cwd: Path, hint: str, explain: Callable[[str], str | None] | None = None
) -> str:
    """Run a command with its output streamed live; a failure becomes a one-line `MoolaError`.

    stderr is echoed line by line as it arrives and its error lines are kept, so the one-line
    message names the cause (DVC's first `ERROR` line, e.g. "failed to connect to s3 ...") and
    the summary (its last).

    Args:
        command: argv of the command.
        what: what the command does, for the message ("dvc pull of train's inputs").
        cwd: where to run it.
        hint: what to do about a failure.
        explain: turns the command's stderr into a one-line cause and what to check (remote
            failures); None, or a None answer, keeps DVC's own first and last error lines.

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
        explained = explain("".join(collected)) if explain is not None else None
        if explained:
            raise MoolaError(f"{what} failed: {explained}")
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
                if any(dep_path == out or out in dep_path.parents or dep_path in out.parents for out in cached_outputs):
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


def publish_branch(
    root: Path,
    job: PodJob,
    branch: str,
    git_outputs: Sequence[str],
    device: dict[str, Any],
    report: PodReport,
    log: Callable[[str], None],
) -> None:
    """Commit the results (if any changed) and push the branch unless the git remote has HEAD already.

    A job killed after its commit and before its push leaves a commit that the next run in the
    same clone pushes; a job with nothing new creates no branch that only repeats main.
    """
    committed = commit_results(root, job.stage, git_outputs, device)
    head = git_output(root, "rev-parse", "HEAD")
    report.commit = head
    remote_head = git_output(root, "ls-remote", job.git_remote, f"refs/heads/{branch}").split("\t")[0]
    known = bool(git_output(root, "branch", "--remotes", "--contains", "HEAD"))
    if remote_head == head or (not remote_head and known and not committed):
        state = "nothing new to push"
    else:
        run_logged(
            ["git", "push", "--quiet", job.git_remote, f"HEAD:refs/heads/{branch}"],
            f"git push of branch {branch!r} to {job.git_remote!r}",
            root,
            "an https push needs write access: push to your fork with a token in MOOLA_GIT_TOKEN "
            "(docs/RUNPOD.md), then rerun the same command",
        )
        state = "new commit" if committed else "pushed"
    report.pushed = True
    log(f"moola pod: git branch {branch}: {state}")


def run_pod_job(job: PodJob, log: Callable[[str], None] = print) -> PodReport:
    """Run one stage the pod way (see the module docstring) and return what happened.

    Args:
        job: the stage, remote and branch.
        log: where progress lines go.

    Returns:
        A `PodReport` with the decision, seconds per phase (pull, run, push) and bytes moved.

    Raises:
        MoolaError: the stage cannot run (inputs missing on the remote), a remote or git failure,
            or a failing stage; one line each. Steps already finished stay finished: rerunning
            the same command, or a new pod, continues from there.
    """
    from moola.params import load_params, load_pod
    from moola.remote.decide import decide, outputs_missing_on_remote
    from moola.remote.local_config import temporary_remote_config
    from moola.remote.resume import StateUploader, resume_state_paths, stage_input_key
    from moola.remote.store import RemoteStore, explain_remote_failure, open_repo

    root = job.root
    if not (root / "dvc.yaml").is_file():
        raise MoolaError(f"no dvc.yaml in {root}: run moola pod from the repository's top folder")

    # 1. The device check comes first: a pod without a usable GPU must not pull a single byte.
    device = check_device(root)
    where = device["gpu_name"] or device["type"]
    log(f"moola pod: device {where} (torch {device['torch']}, CUDA {device['cuda_version']})")
    upload_every_s = load_pod(load_params(root / "params.yaml")).state_upload_minutes * 60

    plan = plan_stage(root, job.stage)
    branch = result_branch(root, job.branch)
    configure_git_identity(root)
    report = PodReport(stage=job.stage, device=device, inputs=[], branch=branch)

    with temporary_remote_config(root, job.remote, job.remote_url, run_logged, dvc_command):
        # 2. Decide from dvc.lock and the remote before anything is pulled.
        started = time.perf_counter()
        with open_repo(root) as repo:
            store = RemoteStore(repo, job.remote)
            facts = store.facts
            store.check_access()
            decision = decide(repo, root, job.stage, store)
        report.decision, report.reasons, report.inputs = decision.action, decision.reasons, decision.inputs
        report.seconds["decide"] = round(time.perf_counter() - started, 3)

        def explain(text: str) -> str | None:
            return explain_remote_failure(text, facts)

        remote_hint = (
            f"check DVC remote {job.remote!r} ({facts.url}) and the AWS_* variables, then rerun "
            "the same command (finished steps are not repeated)"
        )
        if decision.action == "cannot":
            raise MoolaError(decision.cannot_message(job.stage, job.remote))
        if decision.action == "done":
            log(
                f"moola pod: {job.stage} is already done: dvc.lock is current and "
                f"{', '.join(decision.outputs)} {'is' if len(decision.outputs) == 1 else 'are'} on DVC remote "
                f"{job.remote!r}; nothing to pull or run"
            )
            if job.push:
                publish_branch(root, job, branch, plan.git_outputs, device, report, log)
            return report
        log(f"moola pod: {job.stage} must run: {'; '.join(decision.reasons)}")

        # 3. Exactly the inputs, plus DVC's run-cache entries (a few hundred bytes each): a stage
        #    whose outputs an earlier pod pushed is then restored, not rerun.
        started = time.perf_counter()
        before = cache_bytes(root)
        targets = decision.inputs
        log(f"moola pod: pulling {len(targets)} input(s) of {job.stage}: {', '.join(targets) or 'none'}")
        run_logged(
            dvc_command("pull", "--run-cache", "--remote", job.remote, *targets),
            f"dvc pull of {job.stage}'s inputs from remote {job.remote!r}",
            root,
            remote_hint,
            explain,
        )
        after = cache_bytes(root)
        report.bytes_pulled = after[0] - before[0]
        report.bytes_manifests = after[1] - before[1]
        report.bytes_inputs = sum(tree_bytes(root / name) for name in targets)

        # 4. A state an interrupted pod saved for exactly these inputs is fetched before the run.
        with open_repo(root) as repo:
            store = RemoteStore(repo, job.remote)
            stage = next(s for s in repo.index.stages if getattr(s, "name", None) == job.stage)
            key = stage_input_key(stage)
            state_paths = resume_state_paths(root, job.stage)
            for path in state_paths:
                if not path.exists():
                    size = store.download(key, path)
                    if size:
                        report.state_bytes_downloaded += size
                        log(f"moola pod: resuming from {path.name} ({size} bytes) saved by an earlier pod")
            report.seconds["pull"] = round(time.perf_counter() - started, 3)

            # 5. Run with the state copied to the remote as it is saved (at most every N minutes).
            started = time.perf_counter()
            log(f"moola pod: dvc repro --single-item {job.stage}")
            with StateUploader(store, key, state_paths, upload_every_s, log) as uploader:
                run_logged(
                    dvc_command("repro", "--single-item", "--pull", job.stage),
                    f"dvc repro {job.stage}",
                    root,
                    "read the stage's error above, fix it, and rerun (pulled inputs stay in the cache)",
                    explain,
                )
            report.state_uploads = uploader.uploads
            report.state_bytes_uploaded = uploader.bytes_uploaded
            report.seconds["run"] = round(time.perf_counter() - started, 3)

        if not job.push:
            log("moola pod: --no-push given: results stay on this machine")
            return report

        # 6. Data, run cache, metrics and plots first; verified; only then the git ref.
        started = time.perf_counter()
        run_logged(
            dvc_command("push", "--run-cache", "--remote", job.remote, job.stage),
            f"dvc push to remote {job.remote!r}",
            root,
            remote_hint,
            explain,
        )
        with open_repo(root) as repo:
            store = RemoteStore(repo, job.remote)
            stage = next(s for s in repo.index.stages if getattr(s, "name", None) == job.stage)
            store.push_uncached_outputs(stage)
            absent = outputs_missing_on_remote(repo, root, job.stage, store)
            if absent:
                raise MoolaError(
                    f"after dvc push, {', '.join(absent)} of {job.stage} is not on DVC remote "
                    f"{job.remote!r}: {remote_hint}"
                )
            store.discard(key, [path.name for path in state_paths])
        log(f"moola pod: {', '.join(decision.outputs)} of {job.stage} verified on DVC remote {job.remote!r}")
        publish_branch(root, job, branch, plan.git_outputs, device, report, log)
        report.seconds["push"] = round(time.perf_counter() - started, 3)
    return report
