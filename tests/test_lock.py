"""The lock: it agrees with pyproject.toml, pins and hashes everything, and manifests record it."""

from __future__ import annotations

import hashlib
import json
import shutil
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from moola import cli
from moola.environment import (
    LOCK_FILE,
    environment_record,
    lock_inputs_sha256,
    lock_record,
    lock_without,
    locked_versions,
    recorded_inputs_sha256,
    stamp_lock,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK_TEXT = (REPO_ROOT / LOCK_FILE).read_text(encoding="utf-8")


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"] + project["optional-dependencies"]["test"]]


def _blocks(text: str) -> dict[str, list[str]]:
    """{name: the pin line and its indented hash and annotation lines}."""
    blocks: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name = canonicalize_name(line.split("==")[0])
            blocks[name] = [line]
        elif line.startswith(" ") and name is not None:
            blocks[name].append(line)
    return blocks


def test_lock_was_made_from_the_current_pyproject():
    recorded = recorded_inputs_sha256(LOCK_TEXT)
    assert recorded is not None, f"{LOCK_FILE} has no '# inputs sha256:' line: run `make lock`"
    assert recorded == lock_inputs_sha256(REPO_ROOT), (
        f"pyproject.toml's dependencies (or requirements/cpu.txt) changed since {LOCK_FILE} was made: run `make lock`"
    )


def test_every_pyproject_requirement_is_locked_and_satisfied():
    pins = locked_versions(LOCK_TEXT)
    for requirement in _pyproject_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is in pyproject.toml but not in {LOCK_FILE}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK_FILE} pins {name}=={pins[name]}, outside pyproject.toml's {requirement}: run `make lock`"
        )
    # Every package the lock says moola asks for directly is one pyproject.toml lists.
    direct = {
        name for name, lines in _blocks(LOCK_TEXT).items() if any("moola (pyproject.toml)" in line for line in lines)
    }
    assert direct == {canonicalize_name(r.name) for r in _pyproject_requirements()}


def test_every_locked_package_is_pinned_exactly_with_hashes():
    blocks = _blocks(LOCK_TEXT)
    assert len(blocks) > 50  # the whole tree, not just the direct dependencies
    for name, lines in blocks.items():
        assert "==" in lines[0], f"{name} is not pinned exactly"
        assert any(line.strip().startswith("--hash=sha256:") for line in lines), f"{name} has no hash"


def test_lock_torch_is_the_pinned_cpu_build_and_uv_is_pinned():
    pin = [line for line in (REPO_ROOT / "requirements/cpu.txt").read_text().splitlines() if line.startswith("torch")]
    assert pin == [f"torch=={locked_versions(LOCK_TEXT)['torch']}"]
    uv_in = [line for line in (REPO_ROOT / "requirements/uv.in").read_text().splitlines() if line.startswith("uv==")]
    uv_txt = (REPO_ROOT / "requirements/uv.txt").read_text()
    assert uv_in == [f"uv=={locked_versions(uv_txt)['uv']}"], "requirements/uv.txt is stale: run `make lock`"
    assert "--hash=sha256:" in uv_txt


def test_stamp_changes_with_dependencies_only(tmp_path):
    for name in ("pyproject.toml", "requirements/cpu.txt", LOCK_FILE):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    digest = stamp_lock(tmp_path)
    text = (tmp_path / LOCK_FILE).read_text()
    assert recorded_inputs_sha256(text) == digest == lock_inputs_sha256(tmp_path)
    assert locked_versions(text) == locked_versions(LOCK_TEXT)  # stamping touches the header only
    assert stamp_lock(tmp_path) == digest and (tmp_path / LOCK_FILE).read_text() == text  # idempotent

    pyproject = tmp_path / "pyproject.toml"
    original = pyproject.read_text()
    pyproject.write_text(original.replace('description = "', 'description = "Edited: '))
    assert lock_inputs_sha256(tmp_path) == digest  # not a dependency edit
    pyproject.write_text(original.replace('"pandas>=2.1"', '"pandas>=2.1", "numba>=0.60"'))
    assert lock_inputs_sha256(tmp_path) != digest  # a new dependency without `make lock` is caught
    pyproject.write_text(original)
    (tmp_path / "requirements/cpu.txt").write_text("torch==2.14.1\n")
    assert lock_inputs_sha256(tmp_path) != digest


_TINY_LOCK = """\
# header
dvc==3.0 \\
    --hash=sha256:aa
    # via moola (pyproject.toml)
fsspec==1.0 \\
    --hash=sha256:bb
    # via
    #   dvc
    #   torch
mpmath==1.3 \\
    --hash=sha256:cc
    # via sympy
sympy==1.14 \\
    --hash=sha256:dd
    # via torch
torch==2.13.0+cpu \\
    --hash=sha256:ee
    # via
    #   -c requirements/cpu.txt
    #   moola (pyproject.toml)
"""


def test_lock_without_torch_keeps_shared_dependencies():
    kept = lock_without(_TINY_LOCK, {"torch"})
    assert locked_versions(kept) == {"dvc": "3.0", "fsspec": "1.0"}
    assert kept.startswith("# header\ndvc==3.0 \\\n    --hash=sha256:aa\n")
    real = locked_versions(lock_without(LOCK_TEXT, {"torch"}))
    everything = locked_versions(LOCK_TEXT)
    assert "torch" not in real and {"numpy", "pandas", "pyarrow", "dvc", "fsspec", "filelock"} <= set(real)
    assert set(everything) - set(real) <= {"torch", "sympy", "mpmath", "jinja2", "markupsafe", "networkx", "setuptools"}


def test_environment_record_lists_what_differs_from_the_lock(tmp_path):
    (tmp_path / "requirements").mkdir()
    (tmp_path / LOCK_FILE).write_text("numpy==0.0.1 \\\n    --hash=sha256:00\nno-such-package-here==1.0\n")
    record = environment_record(tmp_path)
    assert {"python", "platform", "torch", "numpy", "pandas", "pyarrow", "sklearn", "dvc"} <= set(record)
    assert record["lock"]["sha256"] == hashlib.sha256((tmp_path / LOCK_FILE).read_bytes()).hexdigest()
    assert record["lock"]["differences"] == {
        "no-such-package-here": {"locked": "1.0", "installed": None},
        "numpy": {"locked": "0.0.1", "installed": record["numpy"]},
    }
    assert environment_record(tmp_path / "elsewhere")["lock"] == {
        "file": LOCK_FILE,
        "sha256": None,
        "differences": None,
    }


def test_data_manifest_records_the_lock_sha256_and_nothing_machine_dependent(tiny_project):
    (tiny_project / "requirements").mkdir()
    (tiny_project / LOCK_FILE).write_text("numpy==2.0\n")
    params = tiny_project / "params.yaml"
    params.write_text(params.read_text().replace("plot_examples: 3", "plot_examples: 0"))  # no plot: faster
    assert cli.main(["build-windows"]) == 0
    manifest = json.loads((tiny_project / "data/labeled_windows/v1/manifest.json").read_text())
    assert (
        manifest["lock"]
        == lock_record(tiny_project)
        == {
            "file": LOCK_FILE,
            "sha256": hashlib.sha256(b"numpy==2.0\n").hexdigest(),
        }
    )
    text = json.dumps(manifest)
    for machine_dependent in ("python", "platform", "glibc", "libc"):
        assert machine_dependent not in text


@pytest.mark.parametrize("command", [["stamp-nothing"], []])
def test_environment_command_refuses_unknown_chores(command, capsys):
    from moola.environment import main

    assert main(command) == 2
    assert "usage" in capsys.readouterr().err
