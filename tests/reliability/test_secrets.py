"""No credential from the environment is ever written to an output, a manifest, a log or a metric.

The reference pipeline run had AWS, RunPod, GitHub and Hugging Face credentials with fresh
random values in its environment, and its git remote URL carries the GitHub token, as a clone
made with a token does. Every file of the project (outside git's and DVC's own stores) and
everything the run printed is searched for each value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_project import SECRET_ENV, moola_command, run

# Git's object store and DVC's cache hold copies of what is scanned here, and .git/config holds
# the remote URL the test itself put there.
NOT_SCANNED = (".git", ".dvc/cache", ".dvc/tmp")


def _scanned_files(root: Path) -> list[Path]:
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file() and not any(path.relative_to(root).as_posix().startswith(p + "/") for p in NOT_SCANNED)
    ]


def _leaks(data: bytes, where: str) -> list[str]:
    return [f"{name} in {where}" for name, value in SECRET_ENV.items() if value.encode("utf-8") in data]


@pytest.mark.slow
def test_no_credential_in_any_file_or_log_of_a_pipeline_run(prepared_project):
    files = _scanned_files(prepared_project.root)
    names = {path.relative_to(prepared_project.root).as_posix() for path in files}
    # The scan must see the outputs that describe a run, or it proves nothing.
    for expected in (
        "artifacts/runs/latest/manifest.json",
        "artifacts/models/enhanced_simple_lstm/record.json",
        "metrics/train.json",
        "metrics/eval.json",
        "data/labeled_windows/v1/manifest.json",
        "dvc.lock",
    ):
        assert expected in names
    leaks = [
        leak for path in files for leak in _leaks(path.read_bytes(), path.relative_to(prepared_project.root).as_posix())
    ]
    leaks += _leaks(prepared_project.output.encode("utf-8"), "the output of dvc repro")
    assert not leaks, leaks


def test_pod_launch_masks_credentials_given_on_its_command_line(tmp_path):
    token = SECRET_ENV["GITHUB_TOKEN"]
    # A token inside the clone URL is refused, and the refusal does not repeat it.
    with_token = run(
        moola_command(
            "pod",
            "launch",
            "train",
            "--dry-run",
            "--repo-url",
            f"https://x-access-token:{token}@github.invalid/moola.git",
        ),
        tmp_path,
        timeout=120,
    )
    assert with_token.returncode == 1
    assert not _leaks((with_token.stdout + with_token.stderr).encode("utf-8"), "the refusal of a token URL")
    # Credentials passed as pod environment are masked in the printed request.
    dry_run = run(
        moola_command(
            "pod",
            "launch",
            "train",
            "--dry-run",
            "--repo-url",
            "https://github.invalid/moola.git",
            "--env",
            f"HF_TOKEN={SECRET_ENV['HF_TOKEN']}",
            "--env",
            f"AWS_SECRET_ACCESS_KEY={SECRET_ENV['AWS_SECRET_ACCESS_KEY']}",
        ),
        tmp_path,
        timeout=120,
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert "runpod.create_pod" in dry_run.stdout and "HF_TOKEN" in dry_run.stdout
    assert not _leaks((dry_run.stdout + dry_run.stderr).encode("utf-8"), "moola pod launch --dry-run")
