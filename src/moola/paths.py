"""Project root and safe resolution of user-given names inside it."""

from __future__ import annotations

import os
from pathlib import Path

from moola.errors import MoolaError

ROOT_ENV = "MOOLA_ROOT"


def project_root() -> Path:
    """Return the project root: $MOOLA_ROOT, else the nearest folder upward holding dvc.yaml.

    Falls back to the current directory, so library use outside a project still works.
    """
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() or (folder / "params.yaml").is_file():
            return folder
    return here


def data_root() -> Path:
    """Return `<project>/data`."""
    return project_root() / "data"


def resolve_inside(base: Path, name: str | os.PathLike, what: str) -> Path:
    """Resolve `name` under `base`, refusing absolute paths and anything that escapes `base`.

    Args:
        base: the folder the name must stay inside.
        name: a relative name such as ``labeled_windows/v1`` given by a user or a file.
        what: what the name is, for the error message ("split name", "dataset").

    Returns:
        The resolved path (it need not exist).
    """
    text = os.fspath(name)
    if not text or text.strip() != text:
        raise MoolaError(f"{what} {text!r} is empty or has surrounding spaces: give a plain relative name")
    candidate = Path(text)
    if candidate.is_absolute():
        raise MoolaError(f"{what} {text!r} is an absolute path: give a name relative to {base.name}/ instead")
    if ".." in candidate.parts:
        raise MoolaError(f"{what} {text!r} contains '..': names must stay inside {base.name}/")
    base_resolved = base.resolve()
    resolved = (base_resolved / candidate).resolve()
    if resolved != base_resolved and base_resolved not in resolved.parents:
        raise MoolaError(f"{what} {text!r} resolves outside {base.name}/ (through a link?): refused")
    return resolved


def relative_to_root(path: Path) -> str:
    """Return `path` relative to the project root when it lies inside it, else as given."""
    try:
        return Path(path).resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return Path(path).as_posix()
