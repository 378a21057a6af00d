"""Run manifest: everything needed to re-verify a run, and nothing secret.

A manifest names every input by path (relative to the project root) and sha256, records the
params, the data lineage (audit trail, synthetic ratio), the pretrained-load figures, the
training summary, the metrics, the package versions and the device. Its run id is a hash of the
params, the input hashes and the code, never of a clock or a random draw, so the same run gets
the same id anywhere. Nothing is copied from the environment; as a last line of defence,
`scrub_secrets` blanks any string that equals the value of a secret-looking environment
variable before the manifest is written.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Mapping

from moola.artifacts.run_manifest import FORMAT as MANIFEST_FORMAT

RUN_ID_LENGTH = 16

# What a rerun reproduces: bitwise on CPU (deterministic kernels, fixed seeds, one code path);
# on a GPU only within floating-point tolerance (cuDNN LSTM kernels are not bitwise repeatable).
REPRODUCIBILITY = {
    "cpu": "bitwise: data outputs, checkpoint tensors and metrics are identical for the same inputs and params",
    "gpu": "within tolerance: metrics agree to floating-point tolerance; checkpoint bytes may differ",
    "by_output": {
        "data/labeled_windows, data/unlabeled_windows, data/splits, data/synthetic_cache": (
            "bitwise on any machine: built with numpy from seeded draws, no torch, no clock"
        ),
        "artifacts/ts2vec encoder": "bitwise on CPU; within tolerance on GPU (cuDNN kernels, bf16 autocast)",
        "artifacts/models checkpoint": "bitwise on CPU; within tolerance on GPU (cuDNN kernels)",
        "metrics/eval.json, plots/eval": "bitwise for a given checkpoint: evaluation always runs on CPU",
        "artifacts/models/<model>.json, run manifests": (
            "bitwise for the same commit and environment; they record the git SHA, dirty flag, python, platform "
            "and package versions, so they differ across commits and machines"
        ),
    },
}

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
_MIN_SECRET_LENGTH = 8


def git_state(root: str | os.PathLike) -> dict:
    """{"sha": commit or None, "dirty": bool or None} of the git work tree at `root`."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout if result.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    if sha is None:
        return {"sha": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"sha": sha.strip(), "dirty": bool(status.strip()) if status is not None else None}


def package_versions() -> dict:
    """Python, platform, the lock's sha256 and the versions of the libraries a result depends on."""
    from moola.environment import environment_record

    return environment_record()


def hash_inputs(paths: Mapping[str, str | os.PathLike | None], root: str | os.PathLike) -> dict:
    """sha256 of every input file, keyed by its path relative to `root`.

    Args:
        paths: {role: file or folder or None}; a folder contributes each of its files.
        root: the project root the keys are relative to.

    Returns:
        {relative path: {"role": role, "sha256": hex}} in sorted order.
    """
    from moola.io import sha256_file

    root_path = Path(root).resolve()
    hashes = {}
    for role, path in paths.items():
        if path is None:
            continue
        target = Path(path)
        files = (
            [target]
            if target.is_file()
            else sorted(p for p in target.rglob("*") if p.is_file() and ".tmp-" not in p.name)
        )
        for file in files:
            hashes[_relative(file, root_path)] = {"role": role, "sha256": sha256_file(file)}
    return dict(sorted(hashes.items()))


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def compute_run_id(params: Mapping[str, Any], input_hashes: Mapping[str, Mapping[str, str]], code_sha256: str) -> str:
    """A short hash of the params, the input hashes and the code: same run, same id."""
    import hashlib

    from moola.io import dumps_json

    payload = {
        "params": params,
        "inputs": {path: entry["sha256"] for path, entry in input_hashes.items()},
        "code": code_sha256,
    }
    return hashlib.sha256(dumps_json(payload).encode("utf-8")).hexdigest()[:RUN_ID_LENGTH]


def secret_values() -> list[str]:
    """Values of environment variables whose names look secret (never written anywhere)."""
    return [
        value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET_LENGTH
    ]


def scrub_secrets(obj: Any, secrets: list[str] | None = None) -> Any:
    """Return a copy of `obj` in which any string containing a secret value reads "[redacted]"."""
    secrets = secret_values() if secrets is None else secrets
    if not secrets:
        return obj
    if isinstance(obj, dict):
        return {key: scrub_secrets(value, secrets) for key, value in obj.items()}
    if isinstance(obj, list):
        return [scrub_secrets(value, secrets) for value in obj]
    if isinstance(obj, str) and any(secret in obj for secret in secrets):
        return "[redacted]"
    return obj


def build_manifest(
    *,
    run_id: str,
    created_by: str,
    git: Mapping[str, Any],
    model: Mapping[str, Any],
    seed: int,
    data: Mapping[str, Any],
    paths: Mapping[str, str | None],
    pretrained: Mapping[str, Any] | None,
    training: Mapping[str, Any],
    metrics: Mapping[str, Any],
    inputs: Mapping[str, Any],
    params: Mapping[str, Any],
    device: Mapping[str, Any],
    code: Mapping[str, Any],
) -> dict:
    """Assemble the manifest dict (see CONTRIBUTING.md, "What a manifest holds").

    Args:
        run_id: from `compute_run_id`.
        created_by: the command or API that made the run.
        git: `git_state(...)`.
        model: {name, config, parameters, trainable_parameters, pretrained, kind}.
        seed: base.seed.
        data: the DataRegistry audit trail (with synthetic_ratio).
        paths: {labeled, split, synthetic, encoder, checkpoint} relative to the project root.
        pretrained: the LoadReport as a dict, or None.
        training: epochs run, best epoch, best val loss, history, phases.
        metrics: {"accuracy": test accuracy, "val": pack, "test": pack, "baseline": {...}}.
        inputs: `hash_inputs(...)`, the checkpoint included.
        params: the params sections the run read.
        device: `moola.device.describe_device(...)`.
        code: `moola.codedeps.code_version("train")`.

    Returns:
        The manifest, with secret-looking values scrubbed.
    """
    manifest = {
        "format": MANIFEST_FORMAT,
        "run_id": run_id,
        "created_by": created_by,
        "git": dict(git),
        "model": dict(model),
        "seed": int(seed),
        "data": dict(data),
        "paths": dict(paths),
        "pretrained": dict(pretrained) if pretrained is not None else None,
        "training": dict(training),
        "metrics": dict(metrics),
        "inputs": dict(inputs),
        "params": dict(params),
        "packages": package_versions(),
        "device": dict(device),
        "code": dict(code),
        "reproducibility": copy.deepcopy(REPRODUCIBILITY),
    }
    return scrub_secrets(manifest)
