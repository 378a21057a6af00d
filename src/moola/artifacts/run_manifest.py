"""Run manifest artifact: `artifacts/runs/<run_id>/manifest.json` (and `artifacts/runs/latest/`).

The manifest names every input by path (relative to the project root) and sha256, and records
params, data lineage, pretrained-load figures, training summary, metrics, verdicts, package
versions and device (built by `moola.lineage.manifest.build_manifest`). `problems` is its
schema: the blocks it must have, and a sha256 for every file it names. A run directory is never
silently taken over by another run: `write` refuses a manifest whose inputs differ from the one
already stored under the same run id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from moola import io
from moola.artifacts import common, layout, torch_schema
from moola.errors import MoolaError

FORMAT = "moola.manifest/1"
BLOCKS = {
    "format": str,
    "run_id": str,
    "inputs": dict,
    "paths": dict,
    "data": dict,
    "model": dict,
    "metrics": dict,
    "params": dict,
    "training": dict,
}
# Entries a manifest may lack (older runs), each of one type when present.
OPTIONAL = {
    "pretrained": (dict, type(None)),
    "outputs": dict,
    "verdicts": dict,
    "seed": int,
    "git": dict,
    "device": dict,
    "code": dict,
    "packages": dict,
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def problems(manifest: Any) -> list[str]:
    """Structural faults of a manifest (empty list = sound)."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        return [f"it is not a moola run manifest (format {str(found)[:40]!r})"]
    present = {name: kind for name, kind in OPTIONAL.items() if name in manifest}
    problem = torch_schema.typed_fields_problem(manifest, {**BLOCKS, **present}, "it") or torch_schema.plain_problem(
        manifest, "it"
    )
    if problem:
        return [problem]
    found = [
        f"its output {str(name)[:60]} has no sha256"
        for name, digest in manifest.get("outputs", {}).items()
        if not isinstance(digest, str) or not _SHA256.match(digest)
    ]
    for path, entry in manifest["inputs"].items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or not _SHA256.match(entry["sha256"])
        ):
            found.append(f"its input {str(path)[:60]} has no sha256")
    hashed = set(manifest["inputs"])
    for role, path in manifest["paths"].items():
        if path is None:
            continue
        if not isinstance(path, str):
            found.append(f"its path {role!r} is not a string")
        elif not any(name == path or name.startswith(path.rstrip("/") + "/") for name in hashed):
            found.append(f"it names {role} {path} but records no sha256 for it")
    return found


def named_paths(manifest: dict) -> list[str]:
    """Every path a sound manifest names (its inputs and its `paths` roles), relative to the project root."""
    return list(manifest["inputs"]) + [value for value in manifest["paths"].values() if value]


def refuse_paths_outside(manifest: dict, root: Path, where: str) -> None:
    """A manifest may only name files inside the project: no command reads or vouches for others."""
    from moola.paths import resolve_inside

    for relative in named_paths(manifest):
        if not isinstance(relative, str):
            raise MoolaError(
                f"{where} names a path that is not a string ({str(relative)[:40]!r}): it is damaged; rerun `moola "
                "evaluate`"
            )
        resolve_inside(root, relative, f"path named in {where}")


def read(path: str | Path) -> dict:
    """Read a manifest and check its schema; refuses anything else in one line."""
    manifest = io.read_json(path, "manifest")
    faults = problems(manifest)
    if faults:
        raise MoolaError(
            f"manifest {common.shown(Path(path))}: {faults[0]}: give artifacts/runs/<run_id>/manifest.json or rerun "
            "`moola evaluate`"
        )
    return manifest


def write_file(path: Path, manifest: dict) -> None:
    """Write a manifest to an explicit file (the Python API's run_dir)."""
    faults = problems(manifest)
    if faults:  # a bug in the caller, never a user error
        raise ValueError(f"refusing to write an unsound manifest: {faults[0]}")
    io.write_json(path, manifest)


def write(root: Path, manifest: dict, tables: dict[str, Any] | None = None) -> Path:
    """Write `artifacts/runs/<run_id>/manifest.json` (and `tables`, name -> DataFrame, beside it)
    and replace `artifacts/runs/latest/` with the same files.

    Returns:
        The run's manifest file. Raises MoolaError when that run directory holds a manifest of
        other inputs (another run claiming the same id: nothing is written).
    """
    target = layout.run_dir(root, manifest["run_id"]) / layout.MANIFEST
    if target.exists():
        try:
            old_inputs = io.read_json(target, common.shown(target)).get("inputs")
        except (MoolaError, AttributeError):
            old_inputs = None
        if old_inputs != manifest["inputs"]:
            raise MoolaError(
                f"{common.shown(target)} records other inputs for run {manifest['run_id']}: a run directory is never "
                "taken over by another run; move it aside if it was edited, then rerun `moola evaluate`"
            )
    tables = tables or {}
    for folder_path in (target.parent,):
        for file_name, frame in tables.items():
            io.write_parquet(folder_path / file_name, frame)
    write_file(target, manifest)
    with io.atomic_directory(layout.latest_run_dir(root)) as folder:
        for file_name, frame in tables.items():
            io.write_parquet(folder / file_name, frame)
        io.write_json(folder / layout.MANIFEST, manifest)
    return target
