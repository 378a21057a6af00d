"""One prepared tiny project per test session: a git + DVC repository after one uninterrupted `dvc repro`.

Every reliability test starts from a copy of it, so the whole pipeline runs from scratch only
where a test is about exactly that (determinism, kill-and-resume). The run that prepares it has
the fake credentials of `reliability_project.SECRET_ENV` in its environment, and its output is
kept for the secret scan.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_project import (
    BIN_DIR,
    STAGES,
    copy_project,
    dvc,
    new_repository,
    read_lock,
    run_streaming,
)

_RUNNING = re.compile(r"^Running stage '(\w+)'")
INTRUDE_DURING = "train"  # the stage of the forced rerun during which a second `dvc repro` starts


@dataclass(frozen=True)
class PreparedProject:
    """The reference run every other run is compared with."""

    root: Path  # do not modify: copy it (reliability_project.copy_project)
    output: str  # everything `dvc repro` and the stages printed
    lock: dict  # the parsed dvc.lock of the uninterrupted run
    stage_seconds: dict[str, float]  # wall time of each stage inside that run


def _stage_seconds(lines: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds from each 'Running stage' line to the next stage's (or the end)."""
    starts = [(match.group(1), at) for at, line in lines if (match := _RUNNING.match(line))]
    end = lines[-1][0] if lines else 0.0
    return {name: (starts[i + 1][1] if i + 1 < len(starts) else end) - at for i, (name, at) in enumerate(starts)}


@pytest.fixture(scope="session")
def prepared_project(tmp_path_factory) -> PreparedProject:
    root = new_repository(tmp_path_factory.mktemp("reliability") / "project")
    # --force on a fresh checkout runs every stage, as plain `dvc repro` would; the determinism
    # test repeats exactly this command.
    run = run_streaming([str(BIN_DIR / "dvc"), "repro", "--force"], root, timeout=600)
    assert run.returncode == 0, f"the reference `dvc repro --force` failed:\n{run.text}"
    lock = read_lock(root)
    assert sorted(lock["stages"]) == sorted(STAGES), f"dvc.lock has stages {sorted(lock['stages'])}"
    return PreparedProject(root=root, output=run.text, lock=lock, stage_seconds=_stage_seconds(run.lines))


@dataclass(frozen=True)
class ConcurrentRerun:
    """A second `dvc repro --force` from a fresh checkout, with a third `dvc repro` started during it."""

    root: Path
    first: object  # StreamedRun of the forced rerun
    second: subprocess.CompletedProcess  # the intruding `dvc repro`
    second_finished_while_first_ran: bool


@pytest.fixture(scope="session")
def concurrent_rerun(prepared_project, tmp_path_factory) -> ConcurrentRerun:
    """Rerun the whole pipeline with `dvc repro --force` and, once it runs `train`, start another.

    One full rerun serves two promises: the intruder must be refused by DVC's lock (concurrency),
    and the rerun must reproduce every hash of the reference run (determinism).

    DVC lets go of its repository lock while a stage's command runs and keeps only that stage's
    read/write locks on its deps and outs, so a second `dvc repro` is refused when it reaches a
    stage the first holds. Started during `train`, every stage before it is already done by the
    first run, and the intruder's first stage to run is the busy one: it must be refused while
    `train` lasts longer than the intruder takes to reach it (seconds). Started earlier, it could
    run a stage the first has not reached yet.
    """
    root = copy_project(prepared_project.root, tmp_path_factory.mktemp("rerun") / "project", outputs=False)
    intruder: dict[str, object] = {}

    def start_intruder(line: str, first_process: subprocess.Popen) -> None:
        match = _RUNNING.match(line)
        if "second" not in intruder and match and match.group(1) == INTRUDE_DURING:
            intruder["second"] = dvc(root, "repro", check=False, timeout=120)
            intruder["while_first_ran"] = first_process.poll() is None

    first = run_streaming([str(BIN_DIR / "dvc"), "repro", "--force"], root, timeout=600, on_line=start_intruder)
    assert "second" in intruder, f"the rerun printed no 'Running stage {INTRUDE_DURING!r}' line:\n{first.text}"
    return ConcurrentRerun(
        root=root,
        first=first,
        second=intruder["second"],
        second_finished_while_first_ran=bool(intruder["while_first_ran"]),
    )
