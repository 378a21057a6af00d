"""Hostile inputs at every entry point: refused with one clear line, no traceback, nothing changed.

Each case copies the prepared project, breaks one thing, runs `moola <command>` as a real
subprocess in it and checks the promise of docs/RELIABILITY.md: exit code 1, exactly one
non-empty stderr line `moola <command>: error: ...` naming the file or key and the problem,
no traceback, no credential echoed, and every file under data/, artifacts/, metrics/, plots/
and dvc.lock byte-identical to before. The cases run two at a time (each in its own copy) to
keep the corpus inside its time budget.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile_cases import CASES, MARKER, Case
from reliability_project import SECRET_ENV, copy_project, moola_command, run, snapshot

# Words of the "what to do" half of a message; every refusal must say what to do next (a rule
# the value must meet, "must be >= 1", counts: it says what to change it to).
_ADVICE = (
    "must",
    "needs",
    "known keys are",
    "rebuild",
    "restore",
    "run ",
    "rerun",
    "set ",
    "use ",
    "fix",
    "give",
    "add ",
    "remove",
    "choose",
    "lower",
    "delete",
    "store",
    "convert",
    "keep",
    "pick",
    "re-export",
    "check",
    "retrain",
    "make a new",
    "bump",
    "write it",
)

_CASES_BY_NAME = {case.name: case for case in CASES}


@dataclass
class Outcome:
    """What one hostile case did."""

    returncode: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]
    marker_exists: bool


def _run_case(case: Case, prepared_root: Path, workspace: Path) -> Outcome:
    root = copy_project(prepared_root, workspace / "project")
    case.mutate(root)
    before = snapshot(root)
    result = run(moola_command(*case.argv), root, timeout=240)
    outcome = Outcome(
        returncode=result.returncode,
        stdout=result.stdout,
        stderr=result.stderr,
        before=before,
        after=snapshot(root),
        marker_exists=(root / MARKER).exists(),
    )
    shutil.rmtree(workspace, ignore_errors=True)
    return outcome


@pytest.fixture(scope="module")
def hostile_outcomes(request, prepared_project, tmp_path_factory):
    """Start every selected case in a two-worker pool; each test waits for its own result."""
    selected = [
        item.callspec.params["case_name"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "case_name" in item.callspec.params
    ]
    base = tmp_path_factory.mktemp("hostile")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures: dict[str, Future] = {
            name: pool.submit(_run_case, _CASES_BY_NAME[name], prepared_project.root, base / name) for name in selected
        }
        yield futures
        for future in futures.values():
            future.cancel()


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.known_bug)] if case.known_bug else []
        yield pytest.param(case.name, marks=marks, id=case.name)


@pytest.mark.slow
@pytest.mark.parametrize("case_name", list(_params()))
def test_hostile_input_is_refused_cleanly(case_name, hostile_outcomes):
    case = _CASES_BY_NAME[case_name]
    outcome: Outcome = hostile_outcomes[case_name].result(timeout=600)
    shown = (
        f"moola {' '.join(case.argv)} ->\nrc {outcome.returncode}\nstdout:\n{outcome.stdout}\nstderr:\n{outcome.stderr}"
    )

    assert outcome.returncode == 1, shown
    assert "Traceback" not in outcome.stderr + outcome.stdout, shown
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one error line\n{shown}"
    message = lines[0]
    assert message.startswith(f"moola {case.argv[0]}: error: "), shown
    for word in case.expect:
        assert word in message, f"the message should name {word!r}\n{shown}"
    assert any(advice in message.lower() for advice in _ADVICE), f"the message should say what to do\n{shown}"
    for name, value in SECRET_ENV.items():
        assert value not in outcome.stdout + outcome.stderr, f"{name} leaked into the output of a refusal"
    assert not outcome.marker_exists, "a pickled object planted in a file was executed"
    changed = sorted(
        path for path in set(outcome.before) | set(outcome.after) if outcome.before.get(path) != outcome.after.get(path)
    )
    assert not changed, f"a refused command changed {changed}\n{shown}"


# `moola data` is a report, not a consumer: it lists damaged entries as FLAGGED and exits 0
# (see test_data_catalog_flags_damage_and_changes_nothing); every other command refuses.
REPORT_COMMANDS = {"data"}


def test_corpus_covers_every_command_and_the_required_kinds():
    from moola.cli import COMMANDS

    commands = {case.argv[0] for case in CASES}
    missing = sorted(set(COMMANDS) - REPORT_COMMANDS - commands)
    assert commands == set(COMMANDS) - REPORT_COMMANDS, f"commands without a hostile case: {missing}"
    assert len(CASES) >= 30
    names = " ".join(case.name for case in CASES)
    for kind in (
        "raw_empty",
        "raw_truncated",
        "raw_not_parquet",
        "raw_missing_column",
        "raw_nan",
        "raw_inf",
        "raw_negative",
        "raw_zero",
        "high_below_low",
        "duplicate_timestamp",
        "unsorted",
        "time_zones",
        "shorter_than_window",
        "labels_unknown_timestamp",
        "labels_unknown_label",
        "labels_duplicate",
        "params_unknown_key",
        "params_wrong_type",
        "negative",
        "below_lookback",
        "split_overlapping",
        "out_of_range",
        "split_missing",
        "wrong_fingerprint",
        "strategy_random",
        "without_ks_pval",
        "other_split",
        "parent_is_val",
        "rows_missing",
        "checkpoint_of_other_model",
        "checkpoint_truncated",
        "pickled_object",
        "dotdot",
        "absolute",
    ):
        assert kind in names, f"no hostile case for {kind}"


@pytest.mark.slow
def test_data_catalog_flags_damage_and_changes_nothing(prepared_project, tmp_path):
    root = copy_project(prepared_project.root, tmp_path / "project")
    (root / "data/labeled_windows/v1/meta.json").write_text("{not json", encoding="utf-8")
    before = snapshot(root)
    result = run(moola_command("data"), root, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    flagged = [line for line in result.stdout.splitlines() if "labeled_windows/v1" in line and "FLAGGED" in line]
    assert flagged and "meta.json" in flagged[0], result.stdout
    assert snapshot(root) == before
