"""Determinism and DVC's lock, from one forced rerun: same hashes and metrics; a second `dvc repro` refused.

The reference run and the rerun both start from a fresh checkout (no outputs, no DVC cache), so
every stage really recomputes. The rerun is the one `concurrent_rerun` makes: a second
`dvc repro` started in the same workspace during its `train` must be refused by DVC's lock, and
must disturb nothing. Both promises live in this one module so that, with one test file per
worker, the whole pipeline is rerun once.

What is covered where: the lock refusal here is the only test of DVC's own locking. Queued
experiments (`dvc exp run --queue`, each in its own temporary workspace) are DVC's feature and
are not re-tested; a `dvc exp run -S` reaching moola's params is tested in
`test_refusal_under_dvc.py`, `tests/lineage/test_dvc_pipeline.py` and
`tests/data/test_own_data_dvc.py`.
"""

from __future__ import annotations

import json

import pytest
from reliability_project import OUTPUT_PATHS, lock_outs, read_lock, snapshot


@pytest.mark.slow
def test_second_repro_is_refused_by_the_lock_and_corrupts_nothing(concurrent_rerun, prepared_project):
    second = concurrent_rerun.second
    said = second.stdout + second.stderr
    assert second.returncode != 0, f"a second dvc repro ran beside the first:\n{said}"
    # DVC refuses with its repository lock or, once the first run holds its outputs, its rwlock.
    assert "Unable to acquire lock" in said or "is busy, it is being blocked by" in said, said
    assert "Traceback" not in said
    assert concurrent_rerun.second_finished_while_first_ran, "the second repro only ended after the first finished"
    first = concurrent_rerun.first
    assert first.returncode == 0, first.text
    assert read_lock(concurrent_rerun.root) == prepared_project.lock


@pytest.mark.slow
def test_forced_rerun_reproduces_every_output_hash(concurrent_rerun, prepared_project):
    rerun_lock = read_lock(concurrent_rerun.root)
    reference, rerun = lock_outs(prepared_project.lock), lock_outs(rerun_lock)
    assert set(rerun) == set(reference)
    differing = sorted(path for path in reference if reference[path] != rerun[path])
    assert not differing, f"outputs whose md5 differs between two forced runs: {differing}"
    assert rerun_lock == prepared_project.lock  # deps and params too
    assert snapshot(concurrent_rerun.root, OUTPUT_PATHS) == snapshot(prepared_project.root, OUTPUT_PATHS)


@pytest.mark.slow
def test_forced_rerun_gives_identical_metrics(concurrent_rerun, prepared_project):
    for name in ("pretrain", "train", "eval"):
        first = (prepared_project.root / "metrics" / f"{name}.json").read_bytes()
        second = (concurrent_rerun.root / "metrics" / f"{name}.json").read_bytes()
        assert first == second, f"metrics/{name}.json differs between two forced runs"
        assert json.loads(first), f"metrics/{name}.json is empty"


@pytest.mark.slow
def test_manifest_states_what_is_bitwise_and_what_is_within_tolerance(prepared_project):
    manifest = json.loads((prepared_project.root / "artifacts/runs/latest/manifest.json").read_text(encoding="utf-8"))
    promise = manifest.get("reproducibility")
    assert isinstance(promise, dict), "the run manifest has no 'reproducibility' field"
    assert "bitwise" in promise["cpu"]
    assert "tolerance" in promise["gpu"]
    for output_kind in ("data outputs", "checkpoint", "metrics"):
        assert output_kind in promise["cpu"], f"the CPU promise does not name {output_kind}"
    assert manifest["device"]["type"] == "cpu"  # so the bitwise promise is the one the test above checks
