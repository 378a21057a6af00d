"""The committed `s3` remote against a real S3 server: push, fresh-clone pull, server outages."""

from __future__ import annotations

import pytest
from pod_project import clone, make_origin
from s3server import dvc, run, tree_digest

pytestmark = pytest.mark.slow

OUTPUTS = ["data/unlabeled", "data/labeled", "artifacts/encoder.bin", "artifacts/model.bin"]


def laptop_run(tmp_path, env):
    """Origin + a clone that ran the whole toy pipeline and committed its lock (nothing pushed)."""
    origin = make_origin(tmp_path, env)
    laptop = clone(origin, tmp_path / "laptop", env)
    run(dvc("repro"), laptop, env)
    run(["git", "add", "--all"], laptop, env)
    run(["git", "commit", "--quiet", "-m", "run pipeline"], laptop, env)
    run(["git", "push", "--quiet", "origin", "main"], laptop, env)
    return origin, laptop


def test_push_then_pull_in_a_fresh_clone_restores_identical_data(tmp_path, env, s3_server):
    origin, laptop = laptop_run(tmp_path, env)
    run(dvc("push", "--remote", "s3"), laptop, env)
    assert s3_server.bucket_bytes() > 400_000  # the data really is on the server

    fresh = clone(origin, tmp_path / "fresh", env)
    assert not (fresh / "data" / "unlabeled").exists()
    run(dvc("pull", "--remote", "s3"), fresh, env)

    assert tree_digest(fresh, OUTPUTS) == tree_digest(laptop, OUTPUTS)
    status = run(dvc("status"), fresh, env)
    assert "up to date" in status.stdout


def test_server_outage_fails_clearly_and_a_rerun_completes(tmp_path, env, s3_server):
    origin, laptop = laptop_run(tmp_path, env)

    s3_server.stop()
    failed_push = run(dvc("push", "--remote", "s3"), laptop, env, check=False)
    assert failed_push.returncode != 0
    assert "Could not connect to the endpoint URL" in failed_push.stderr
    assert s3_server.endpoint in failed_push.stderr  # says where

    s3_server.start()
    run(dvc("push", "--remote", "s3"), laptop, env)

    fresh = clone(origin, tmp_path / "fresh", env)
    s3_server.stop()
    failed_pull = run(dvc("pull", "--remote", "s3"), fresh, env, check=False)
    assert failed_pull.returncode != 0
    assert "failed to pull data from the cloud" in failed_pull.stderr
    assert not (fresh / "artifacts" / "model.bin").exists()  # nothing half-written in the workspace

    s3_server.start()
    run(dvc("pull", "--remote", "s3"), fresh, env)
    assert tree_digest(fresh, OUTPUTS) == tree_digest(laptop, OUTPUTS)
    assert "up to date" in run(dvc("status"), fresh, env).stdout
    # Nothing was lost on the server either: a cloud status against it is clean.
    assert "in sync" in run(dvc("status", "--cloud", "--remote", "s3"), laptop, env).stdout


def test_the_default_local_remote_is_a_folder_beside_the_clone_and_works_out_of_the_box(tmp_path, env):
    origin, laptop = laptop_run(tmp_path, env)
    run(dvc("push"), laptop, env)  # no remote named: the committed default
    storage = tmp_path / "moola-dvc-remote"  # ../../moola-dvc-remote from laptop/.dvc/
    assert (storage / "files" / "md5").is_dir()
    assert "moola-dvc-remote" not in run(["git", "status", "--porcelain"], laptop, env).stdout

    fresh = clone(origin, tmp_path / "fresh", env)
    run(dvc("pull"), fresh, env)
    assert tree_digest(fresh, OUTPUTS) == tree_digest(laptop, OUTPUTS)
