"""Before a pod pulls anything: is the stage done on the remote, must it run, or can it not run?"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from moola.errors import MoolaError

Action = Literal["done", "run", "cannot"]


@dataclasses.dataclass
class StageDecision:
    """What a pod job will do for one stage, and why.

    Attributes:
        action: "done" (dvc.lock is current and every cached output is on the remote), "run",
            or "cannot" (an input is not on the remote).
        reasons: why the stage must run (empty for "done").
        inputs: the stage's dependencies that other stages make (what a run pulls).
        outputs: the stage's cached outputs.
        missing: inputs that are not on the remote, with the stage that makes each.
        stale: inputs whose making stage's dvc.lock entry is out of date (code or params changed).
    """

    action: Action
    reasons: list[str]
    inputs: list[str]
    outputs: list[str]
    missing: dict[str, str]
    stale: dict[str, str]

    def cannot_message(self, stage: str, remote: str) -> str:
        """One line: what is missing or out of date and the commands that put it on the remote."""
        parts = []
        if self.missing:
            parts.append(f"{', '.join(sorted(self.missing))} not on DVC remote {remote!r}")
        if self.stale:
            parts.append(f"{', '.join(sorted(self.stale))} out of date in dvc.lock (code or params changed)")
        make = " ".join(sorted(set(self.missing.values()) | set(self.stale.values())))
        return (
            f"{stage} cannot run on this pod: input(s) {'; '.join(parts)}; on your machine run "
            f"`dvc repro {make} && dvc push -r {remote}`, commit dvc.lock and git push, "
            "then start the pod again"
        )


def _relative(root: Path, path: str | Path) -> str:
    return Path(path).relative_to(root).as_posix()


def _pipeline_stages(repo: Any, root: Path) -> dict[str, Any]:
    pipeline_file = root / "dvc.yaml"
    return {
        stage.name: stage
        for stage in repo.index.stages
        if getattr(stage, "name", None) and Path(stage.path) == pipeline_file
    }


def _producers(stages: dict[str, Any]) -> dict[Path, tuple[Any, Any]]:
    """{output path: (stage, output)} for every cached output of the pipeline."""
    return {Path(out.fs_path): (stage, out) for stage in stages.values() for out in stage.outs if out.use_cache}


def _producer_of(path: Path, producers: dict[Path, tuple[Any, Any]]) -> tuple[Any, Any] | None:
    for out_path, pair in producers.items():
        if path == out_path or out_path in path.parents:
            return pair
    return None


def lock_reasons(stage: Any, stages: dict[str, Any], root: Path, seen: dict[str, list[str]] | None = None) -> list[str]:
    """Why the stage's dvc.lock entry does not describe a run of today's code, params and inputs.

    Code and params are compared in the work tree; an input another stage makes is compared with
    that stage's dvc.lock entry (so nothing needs to be pulled). Empty: the entry is current.
    """
    from dvc.dependency.param import ParamsDependency

    seen = {} if seen is None else seen
    if stage.name in seen:
        return seen[stage.name]
    seen[stage.name] = []
    producers = _producers(stages)
    reasons: list[str] = []
    if not all(out.hash_info for out in stage.outs if out.use_cache) or not any(dep.hash_info for dep in stage.deps):
        reasons.append("dvc.lock has no entry for it")
    elif stage.changed_stage():
        reasons.append("its command changed")
    else:
        for dep in stage.deps:
            if isinstance(dep, ParamsDependency):
                changed = dep.workspace_status()
                if changed:
                    reasons.append(f"params changed ({', '.join(sorted(changed))})")
                continue
            path = Path(dep.fs_path)
            pair = _producer_of(path, producers)
            if pair is None:
                if dep.workspace_status():
                    reasons.append(f"{_relative(root, path)} changed")
                continue
            maker, out = pair
            if path == Path(out.fs_path) and (not out.hash_info or out.hash_info.value != dep.hash_info.value):
                reasons.append(f"{_relative(root, path)} is not what {maker.name} last made")
            elif lock_reasons(maker, stages, root, seen):
                reasons.append(f"upstream stage {maker.name} is out of date")
    seen[stage.name] = reasons
    return reasons


def decide(repo: Any, root: Path, stage_name: str, store: Any) -> StageDecision:
    """Decide from the committed dvc.lock and the remote, before a byte is pulled.

    Args:
        repo: an open `dvc.repo.Repo` of `root`.
        root: the project folder.
        stage_name: the dvc.yaml stage the pod runs.
        store: a `RemoteStore` for the pod's remote.

    Returns:
        A `StageDecision`.

    Raises:
        MoolaError: unknown stage; a git-tracked input is missing; the remote fails (one line).
    """
    from dvc.dependency.param import ParamsDependency

    stages = _pipeline_stages(repo, root)
    if stage_name not in stages:
        raise MoolaError(f"no stage {stage_name!r} in {root / 'dvc.yaml'}: choose one of {', '.join(sorted(stages))}")
    stage = stages[stage_name]
    producers = _producers(stages)
    inputs: list[str] = []
    missing: dict[str, str] = {}
    stale: dict[str, str] = {}
    for dep in stage.deps:
        if isinstance(dep, ParamsDependency):
            continue
        path = Path(dep.fs_path)
        pair = _producer_of(path, producers)
        if pair is None:
            if not path.exists():
                raise MoolaError(
                    f"{_relative(root, path)}, an input of {stage_name}, is neither in the clone "
                    "nor made by a stage: commit it to git or add the stage that makes it"
                )
            continue
        maker, out = pair
        relative = _relative(root, path)
        inputs.append(relative)
        if not out.hash_info or store.missing(out.hash_info):
            missing[relative] = maker.name
        elif lock_reasons(maker, stages, root):
            stale[relative] = maker.name
    outputs = [_relative(root, out.fs_path) for out in stage.outs if out.use_cache]
    if missing or stale:
        return StageDecision("cannot", [], sorted(inputs), outputs, missing, stale)
    reasons = lock_reasons(stage, stages, root)
    if not reasons:
        absent = [_relative(root, out.fs_path) for out in stage.outs if out.use_cache and store.missing(out.hash_info)]
        if absent:
            reasons.append(f"dvc.lock is current but {', '.join(absent)} is not on the remote")
    return StageDecision("run" if reasons else "done", reasons, sorted(inputs), outputs, {}, {})


def outputs_missing_on_remote(repo: Any, root: Path, stage_name: str, store: Any) -> list[str]:
    """The stage's cached outputs (as dvc.lock now records them) that are not on the remote."""
    stage = _pipeline_stages(repo, root)[stage_name]
    return [
        _relative(root, out.fs_path)
        for out in stage.outs
        if out.use_cache and (not out.hash_info or store.missing(out.hash_info))
    ]
