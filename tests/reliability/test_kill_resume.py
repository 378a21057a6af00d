"""Kill-and-resume: SIGKILL every stage at several points; outputs stay whole and a rerun catches up.

A fresh checkout of the tiny project (no outputs, no dvc.lock, no DVC cache, so nothing can be
restored instead of run) goes through the pipeline one stage at a time. Each stage is started
with `dvc repro --single-item <stage>` in its own process group and killed with SIGKILL (dvc and
the moola process together, as a lost machine would) at each of its kill points. After every kill
each output is either absent or byte-identical to the uninterrupted reference run; then
`dvc repro` completes the stage. Pretraining and training, killed between epochs, must resume
from their saved state. At the end dvc.lock and every output equal the uninterrupted run's.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from reliability_project import (
    BIN_DIR,
    OUTPUT_PATHS,
    REPO_ROOT,
    STAGES,
    copy_project,
    dvc,
    hidden_temporaries,
    moola_command,
    read_lock,
    run_streaming,
    sha256_file,
    snapshot,
    stage_outs,
)

SEED = 20240611


@dataclass(frozen=True)
class KillPoint:
    """Where to kill a stage: right after the first output line matching `after_line`, or at a random time."""

    name: str
    after_line: str | None = None  # regex on one output line (dvc's and the stage's)

    def describe(self) -> str:
        return self.name if self.after_line is None else f"{self.name} (after line /{self.after_line}/)"


RANDOM_EARLY = KillPoint("random early time")
# Per stage, in order: for the long stages first a kill between two epochs of a fresh run (a
# resumable state exists from then on, so every later run resumes), then a random time inside
# the stage's usual run, then a point chosen from its output: right after the stage starts, or
# for build_windows after it has written everything but before dvc records it.
KILL_POINTS: dict[str, tuple[KillPoint, ...]] = {
    "check_params": (KillPoint("stage just started", r"^> moola check-params"),),
    "build_windows": (RANDOM_EARLY, KillPoint("outputs written, lock not yet updated", r"^\s+labeled\s+\d+ windows")),
    "make_splits": (RANDOM_EARLY, KillPoint("stage just started", r"^> moola make-splits")),
    "synth_cache": (RANDOM_EARLY, KillPoint("stage just started", r"^> moola synth-cache")),
    "pretrain_ts2vec": (
        # in the second fold's encoder: the resume picks up at the fold and the epoch reached
        KillPoint("after 2 of 3 epochs of the second fold", r"^fold 1: epoch 2/3 "),
        RANDOM_EARLY,
        KillPoint("stage just started", r"^> moola pretrain-ts2vec"),
    ),
    "train": (
        KillPoint("after 1 of 6 epochs", r"^epoch 1/6 "),
        RANDOM_EARLY,
        KillPoint("status report printed", r"^\s+guard\s"),
    ),
    "evaluate": (RANDOM_EARLY, KillPoint("stage just started", r"^> moola evaluate")),
}
# Resumable training states (see the stage modules): present after a kill between epochs.
STATE_FILES = {
    "pretrain_ts2vec": "artifacts/ts2vec/.encoder_v1.pt.state",
    "train": "artifacts/models/.enhanced_simple_lstm.fold_0.state",
}
# Folders written in one rename (moola.io.atomic_directory): after a kill, all or nothing.
ATOMIC_FOLDERS = (
    "data/labeled_windows/v1",
    "data/unlabeled_windows/v1",
    "data/synthetic_cache/v1_temporal_q0.9_r0.5",
    "plots/eval",
    "artifacts/runs/latest",
)


def _files_under(path: Path) -> dict[str, str]:
    """{name relative to `path`: sha256} of the visible files (moola.io's hidden temporaries left out)."""
    if path.is_file():
        return {"": sha256_file(path)}
    if not path.is_dir():
        return {}
    return {
        p.relative_to(path).as_posix(): sha256_file(p)
        for p in sorted(path.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    }


def _check_absent_or_complete(root: Path, reference: Path, outs: list[str], where: str) -> list[str]:
    """Problems with the outputs after a kill: a file that differs from the reference, or a half folder."""
    problems = []
    for out in outs:
        have, want = _files_under(root / out), _files_under(reference / out)
        for name, digest in have.items():
            if want.get(name) != digest:
                problems.append(f"{where}: {out}/{name} exists but differs from the uninterrupted run's")
    for folder in ATOMIC_FOLDERS:
        have, want = _files_under(root / folder), _files_under(reference / folder)
        if have and set(have) != set(want):
            problems.append(f"{where}: {folder} is half written: has {sorted(have)}, complete is {sorted(want)}")
    return problems


def test_every_pipeline_stage_has_kill_points():
    pipeline = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    assert list(pipeline["stages"]) == list(STAGES) == list(KILL_POINTS)


@pytest.mark.slow
def test_kill_each_stage_then_repro_matches_the_uninterrupted_run(prepared_project, tmp_path):
    reference = prepared_project.root
    root = copy_project(reference, tmp_path / "project", outputs=False)
    rng = random.Random(SEED)
    problems: list[str] = []
    log: list[str] = []
    for stage in STAGES:
        outs = stage_outs(prepared_project.lock, stage)
        usual_seconds = prepared_project.stage_seconds[stage]
        later_runs: list[str] = []  # output of every run after the first kill
        for point in KILL_POINTS[stage]:
            after_line = re.compile(point.after_line) if point.after_line else None
            # dvc needs a second or so before the stage starts; the random time spans both. --force:
            # an earlier kill point may have come too late and let the stage finish.
            seconds = None if after_line else rng.uniform(0.5, 1.0 + 0.8 * usual_seconds)
            run = run_streaming(
                [str(BIN_DIR / "dvc"), "repro", "--single-item", "--force", stage],
                root,
                kill_after_line=(lambda line, pattern=after_line: bool(pattern.search(line))) if after_line else None,
                kill_after_seconds=seconds,
                timeout=300,
            )
            where = f"{stage} killed at {point.describe()}" + (f" = {seconds:.2f} s" if seconds else "")
            log.append(f"{where}: {'killed' if run.killed else f'finished first (rc {run.returncode})'}")
            if after_line is not None:
                assert run.killed, f"{where}: the stage never printed the kill line:\n{run.text}"
            if point is KILL_POINTS[stage][0] and stage in STATE_FILES:
                assert (root / STATE_FILES[stage]).is_file(), f"{where}: no resumable state was saved:\n{run.text}"
            else:
                later_runs.append(run.text)
            problems += _check_absent_or_complete(root, reference, outs, where)
        state_file = STATE_FILES.get(stage)
        # A later kill point may have come too late and let the stage finish (which removes the state).
        had_state = bool(state_file) and (root / state_file).is_file()
        finish = run_streaming([str(BIN_DIR / "dvc"), "repro", "--single-item", stage], root, timeout=300)
        assert finish.returncode == 0, f"dvc repro {stage} after the kills failed:\n{finish.text}"
        log.append(
            f"{stage} finished by dvc repro" + (" (resumed from the saved state)" if "resuming" in finish.text else "")
        )
        if had_state:
            assert "resuming" in finish.text, f"{stage} restarted instead of resuming from {state_file}:\n{finish.text}"
        if stage in STATE_FILES:
            assert any("resuming" in text for text in later_runs + [finish.text]), (
                f"{stage} never resumed after its kills"
            )
            assert not (root / state_file).exists(), f"{stage} left its resumable state behind"
    print("\n".join(log))
    assert not problems, "\n".join(problems + ["", "kills:"] + log)

    assert read_lock(root) == prepared_project.lock, (
        "dvc.lock after kills and reruns differs from the uninterrupted run"
    )
    visible = {k: v for k, v in snapshot(root, OUTPUT_PATHS).items() if "/." not in f"/{k}"}
    expected = {k: v for k, v in snapshot(reference, OUTPUT_PATHS).items() if "/." not in f"/{k}"}
    assert visible == expected
    output_folders = _dvc_output_folders(prepared_project.lock)
    leftovers = [path for path in hidden_temporaries(root) if any(path.startswith(f"{o}/") for o in output_folders)]
    assert not leftovers, f"temporary files left inside DVC outputs: {leftovers}"
    status = dvc(root, "status", "--json").stdout
    assert status.strip() in ("{}", ""), f"dvc status after the reruns: {status}"


def _dvc_output_folders(lock: dict) -> list[str]:
    return [
        out["path"] for stage in lock["stages"].values() for out in stage.get("outs", []) if out["md5"].endswith(".dir")
    ]


@pytest.mark.slow
def test_training_killed_after_its_last_epoch_resumes_to_the_same_record(prepared_project, tmp_path):
    # The narrowest kill window of training: the state of the last epoch is saved, the outputs
    # are not yet written. The kill test above reaches it only when its random time falls there.
    reference = prepared_project.root
    outputs = (
        "artifacts/models/enhanced_simple_lstm/fold_0.pt",
        "artifacts/models/enhanced_simple_lstm/record.json",
        "metrics/train.json",
    )
    state = Path(STATE_FILES["train"])
    for attempt in range(3):
        root = copy_project(reference, tmp_path / f"project{attempt}")
        for name in outputs:
            (root / name).unlink()
        killed = run_streaming(moola_command("train"), root, kill_after_line=lambda line: line.startswith("epoch 6/6 "))
        assert killed.killed, killed.text
        if (root / state).is_file() and not (root / outputs[0]).exists():
            break
    else:
        pytest.fail("three kills after the last epoch line all came after the outputs were written")
    resumed = run_streaming(moola_command("train"), root)
    assert resumed.returncode == 0, resumed.text
    assert "6 epoch(s) already done" in resumed.text, resumed.text
    for name in outputs:
        differing = _json_differences(root / name, reference / name) if name.endswith(".json") else []
        assert sha256_file(root / name) == sha256_file(reference / name), (
            f"{name} differs from the uninterrupted run's {differing}"
        )


def _json_differences(path: Path, reference: Path) -> list[str]:
    """'key/path: resumed value != uninterrupted value' for every leaf that differs."""
    import json

    found: list[str] = []

    def walk(a, b, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{where}/{key}")
        elif a != b:
            found.append(f"{where}: {a!r} != {b!r}")

    walk(json.loads(path.read_text(encoding="utf-8")), json.loads(reference.read_text(encoding="utf-8")), "")
    return found
