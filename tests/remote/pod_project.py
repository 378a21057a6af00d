"""A throwaway git origin of this project for the remote tests, with a tiny stdlib pipeline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from s3server import git_identity, run

REPO_ROOT = Path(__file__).resolve().parents[2]

# A pipeline with the real one's shape (a big and a small input, a GPU-ish stage in the middle)
# whose stages are a few lines of stdlib Python, so DVC and the bootstrap are tested in seconds.
TOY_DVC_YAML = """\
stages:
  prepare:
    cmd: python toy_stage.py prepare
    deps:
    - data/raw
    - toy_stage.py
    params:
    - toy.size
    outs:
    - data/unlabeled
    - data/labeled
  fit:
    cmd: python toy_stage.py fit
    deps:
    - data/unlabeled
    - toy_stage.py
    params:
    - base
    outs:
    - artifacts/encoder.bin
    metrics:
    - metrics/fit.json:
        cache: false
  train:
    cmd: python toy_stage.py train
    deps:
    - data/labeled
    - artifacts/encoder.bin
    - toy_stage.py
    params:
    - toy.epochs
    outs:
    - artifacts/model.bin
    metrics:
    - metrics/train.json:
        cache: false
"""

TOY_PARAMS = """\
base:
  seed: 1
  device: auto
  require_gpu: false
  threads: 1
toy:
  size: 200000
  epochs: 2
"""

TOY_STAGE = '''\
"""Deterministic stand-ins for the real stages: bytes derived from their inputs by sha256."""
import hashlib
import json
import sys
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())


def blob(seed: bytes, size: int) -> bytes:
    out, block = bytearray(), seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def digest(path: str) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


def write(path: str, data: bytes) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data)


step = sys.argv[1]
if step == "prepare":
    raw = Path("data/raw/seed.txt").read_bytes()
    size = params["toy"]["size"]
    write("data/unlabeled/part-0.bin", blob(b"u0" + raw, size))
    write("data/unlabeled/part-1.bin", blob(b"u1" + raw, size))
    write("data/labeled/rows.bin", blob(b"l" + raw, size // 10))
    write("data/labeled/notes.bin", blob(b"n" + raw, size // 10))
elif step == "fit":
    seed = digest("data/unlabeled/part-0.bin") + digest("data/unlabeled/part-1.bin")
    write("artifacts/encoder.bin", blob(seed, 5000))
    write("metrics/fit.json", json.dumps({"loss": seed[0] / 255}).encode())
elif step == "train":
    seed = digest("data/labeled/rows.bin") + digest("artifacts/encoder.bin")
    write("artifacts/model.bin", blob(seed + bytes([params["toy"]["epochs"]]), 3000))
    write("metrics/train.json", json.dumps({"accuracy": seed[1] / 255}).encode())
'''

# What of the repository a pod needs: the package, its install files, the pipeline and the bootstrap.
PROJECT_PARTS = [
    "src",
    "pyproject.toml",
    "README.md",
    "requirements",
    "scripts",
    ".dvc/config",
    ".gitignore",
    ".dvcignore",
    "dvc.yaml",
    "params.yaml",
]


def copy_project(destination: Path) -> None:
    """Copy the parts of this repository that a pod clone holds (no data, no tests)."""
    destination.mkdir(parents=True)
    for part in PROJECT_PARTS:
        source = REPO_ROOT / part
        target = destination / part
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def make_origin(
    scratch: Path, env: dict[str, str], pipeline_from: Path | None = None, params: str | None = None
) -> Path:
    """Create a bare git origin holding the project and one pipeline, committed on `main`.

    Args:
        scratch: a temporary folder; the origin is `scratch/origin.git`.
        env: client environment (isolated git config).
        pipeline_from: a project folder (the `tiny_project` fixture) whose dvc.yaml, params.yaml
            and data/raw/ replace the repository's; None uses the stdlib toy pipeline above.
        params: params.yaml text to commit instead.

    Returns:
        The path of the bare repository (usable as a clone URL).
    """
    work = scratch / "seed-work"
    copy_project(work)
    if pipeline_from is None:
        (work / "dvc.yaml").write_text(TOY_DVC_YAML)
        (work / "params.yaml").write_text(TOY_PARAMS)
        (work / "toy_stage.py").write_text(TOY_STAGE)
        (work / "data" / "raw").mkdir(parents=True)
        (work / "data" / "raw" / "seed.txt").write_text("moola toy raw data\n")
    else:
        for name in ("dvc.yaml", "params.yaml"):
            shutil.copy2(pipeline_from / name, work / name)
        shutil.copytree(pipeline_from / "data" / "raw", work / "data" / "raw")
    if params is not None:
        (work / "params.yaml").write_text(params)
    run(["git", "init", "--quiet", "--initial-branch", "main"], work, env)
    git_identity(work, env)
    run(["git", "add", "--all"], work, env)
    run(["git", "commit", "--quiet", "-m", "project"], work, env)
    origin = scratch / "origin.git"
    run(["git", "clone", "--quiet", "--bare", str(work), str(origin)], scratch, env)
    shutil.rmtree(work)
    return origin


def clone(origin: Path, destination: Path, env: dict[str, str], branch: str = "main") -> Path:
    """A fresh clone with a local identity."""
    run(["git", "clone", "--quiet", "--branch", branch, str(origin), str(destination)], destination.parent, env)
    git_identity(destination, env)
    return destination


def make_pod_python(base: Path) -> Path:
    """An interpreter that, like a fresh pod, has the dependencies but not moola itself.

    A venv whose site folder links every package of this environment except moola, so the
    bootstrap's `pip install -e .` really installs the clone (offline, nothing downloaded) and
    never touches this environment's own install.

    Returns:
        The venv's python.
    """
    import site

    shared = base / "shared-site"
    shared.mkdir(parents=True)
    # Every site folder of this interpreter (a venv made with --system-site-packages has two).
    for site_packages in map(Path, site.getsitepackages()):
        if not site_packages.is_dir():
            continue
        for entry in site_packages.iterdir():
            name = entry.name.lower()
            if name.startswith(("moola", "__editable__.moola", "__editable___moola", "__pycache__")):
                continue
            if not (shared / entry.name).exists():
                (shared / entry.name).symlink_to(entry)
    venv = base / "venv"
    interpreter = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([interpreter, "-m", "venv", "--without-pip", str(venv)], check=True)
    (pod_site,) = (venv / "lib").glob("python*/site-packages")
    (pod_site / "_pod_shared_site.pth").write_text(f"import site; site.addsitedir({str(shared)!r})\n")
    python = venv / "bin" / "python"
    clean = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    probe = subprocess.run([str(python), "-c", "import moola"], capture_output=True, env=clean)
    if probe.returncode == 0:
        raise RuntimeError("the pod interpreter must not see this environment's moola")
    return python


# The tests have no package index, so `make setup` is replaced by an offline stand-in that leaves
# the same thing behind: a .venv in the clone with the dependencies and moola installed from it.
MAKE_STAND_IN = """#!/usr/bin/env bash
set -e
python=python3
for arg in "$@"; do case "$arg" in PYTHON=*) python="${arg#PYTHON=}";; esac; done
case " $* " in *" setup "*) ;; *) exec /usr/bin/make "$@";; esac
echo "make setup: offline test stand-in"
"$python" -m venv --without-pip .venv
cp "$POD_SHARED_SITE_PTH" .venv/lib/python*/site-packages/
.venv/bin/python -m pip install --quiet --no-build-isolation --no-deps -e .
touch .venv/.moola-installed
"""


def offline_make_setup(folder: Path, pod_python: Path, environment: dict[str, str]) -> Path:
    """Write the `make` stand-in into `folder` and point it at the pod interpreter's packages.

    Returns:
        `folder`, to put first on the pod's PATH.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "make").write_text(MAKE_STAND_IN)
    (folder / "make").chmod(0o755)
    (pth,) = pod_python.parent.parent.glob("lib/python*/site-packages/_pod_shared_site.pth")
    environment["POD_SHARED_SITE_PTH"] = str(pth)
    return folder
