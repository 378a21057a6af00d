"""The locked environment: the lock file's sha256, what is installed, and the lock's own bookkeeping."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

LOCK_FILE = "requirements/lock.txt"  # relative to the project root; written by `make lock`
TORCH_PIN_FILE = "requirements/cpu.txt"  # the CPU torch build the lock is compiled with
LOCKED_EXTRAS = ("test",)  # pyproject extras that `make lock` puts in the lock
INPUTS_LINE = "# inputs sha256: "  # header line `make lock` adds: a hash of what the lock was made from

# Manifest key -> distribution name of the packages a result depends on.
CORE_PACKAGES = {
    "moola": "moola",
    "torch": "torch",
    "numpy": "numpy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "sklearn": "scikit-learn",
    "scipy": "scipy",
    "matplotlib": "matplotlib",
    "dvc": "dvc",
}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
_VIA_ONE = re.compile(r"^\s+# via (\S+)")
_VIA_MANY = re.compile(r"^\s+#   (\S+)")


def _root(root: str | Path | None) -> Path:
    if root is not None:
        return Path(root)
    from moola.paths import project_root

    return project_root()


def normalise_name(name: str) -> str:
    """PEP 503 form of a distribution name (`Scikit_Learn` -> `scikit-learn`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_sha256(root: str | Path | None = None) -> str | None:
    """sha256 of the lock file's bytes, or None when the project has no lock.

    Args:
        root: the project root (default: `moola.paths.project_root()`).

    Returns:
        Hex digest, or None.
    """
    path = _root(root) / LOCK_FILE
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lock_record(root: str | Path | None = None) -> dict:
    """What a *data* manifest records of the environment: the lock file and its sha256, nothing else.

    Python patch version, platform and the installed versions may differ between machines that
    install the same lock (a pod keeps its image's torch), so they stay out of data outputs,
    whose bytes must be equal on every machine.

    Args:
        root: the project root (default: `moola.paths.project_root()`).

    Returns:
        {"file": "requirements/lock.txt", "sha256": hex or None when the project has no lock}.
    """
    return {"file": LOCK_FILE, "sha256": lock_sha256(root)}


def locked_versions(lock_text: str) -> dict[str, str]:
    """{normalised name: version} of every `name==version` line of a lock."""
    pins = {}
    for line in lock_text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[normalise_name(match.group(1))] = match.group(2)
    return pins


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def environment_record(root: str | Path | None = None) -> dict:
    """The environment of a run: lock sha256, python, platform, core package versions.

    For run manifests (they may differ between machines). `lock.differences` lists every locked
    package whose installed version is another one, or that is missing: on a GPU pod, torch (the
    image's CUDA build) and the few packages only torch needs are expected there.

    Args:
        root: the project root (default: `moola.paths.project_root()`).

    Returns:
        {"python", "implementation", "platform", "libc", "lock": {file, sha256, differences},
        "<package>": version or None for each of CORE_PACKAGES}.
    """
    path = _root(root) / LOCK_FILE
    differences: dict[str, dict] | None = None
    if path.is_file():
        differences = {}
        for name, version in sorted(locked_versions(path.read_text(encoding="utf-8")).items()):
            installed = _installed_version(name)
            if installed != version:
                differences[name] = {"locked": version, "installed": installed}
    libc_name, libc_version = platform.libc_ver()
    record = {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": sysconfig.get_platform(),
        "libc": f"{libc_name} {libc_version}".strip() or None,
        "lock": {"file": LOCK_FILE, "sha256": lock_sha256(root), "differences": differences},
    }
    for key, distribution in CORE_PACKAGES.items():
        record[key] = _installed_version(distribution)
    return record


def lock_inputs_sha256(root: str | Path | None = None) -> str:
    """sha256 of what the lock is compiled from.

    Covers pyproject.toml's requires-python, dependencies and the locked extras, and the pins of
    requirements/cpu.txt; other pyproject edits (descriptions, tool settings) leave it unchanged.

    Args:
        root: the project root (default: `moola.paths.project_root()`).

    Returns:
        Hex digest.
    """
    import tomllib

    folder = _root(root)
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    pins = [
        line.split("#", 1)[0].strip()
        for line in (folder / TORCH_PIN_FILE).read_text(encoding="utf-8").splitlines()
        if line.split("#", 1)[0].strip()
    ]
    payload = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "extras": {name: extras.get(name, []) for name in LOCKED_EXTRAS},
        "constraints": pins,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def recorded_inputs_sha256(lock_text: str) -> str | None:
    """The inputs sha256 that `make lock` wrote into the lock's header, or None."""
    for line in lock_text.splitlines():
        if line.startswith(INPUTS_LINE):
            return line[len(INPUTS_LINE) :].split()[0]
    return None


def stamp_lock(root: str | Path | None = None) -> str:
    """Write the inputs sha256 into the lock's header (after uv's two header lines); return it."""
    folder = _root(root)
    path = folder / LOCK_FILE
    digest = lock_inputs_sha256(folder)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith(INPUTS_LINE)]
    header = 0
    while header < len(lines) and lines[header].startswith("#"):
        header += 1
    note = (
        f"{INPUTS_LINE}{digest} (pyproject.toml dependencies and extras {', '.join(LOCKED_EXTRAS)}; {TORCH_PIN_FILE})"
    )
    lines.insert(header, note)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return digest


def lock_without(lock_text: str, dropped: set[str]) -> str:
    """The lock minus `dropped` and every package that only dropped packages need.

    A package stays when any of its `# via` parents stays (or it is a direct requirement), so
    a shared dependency (fsspec: dvc and torch) is kept. Used on a GPU pod, where the image's
    CUDA torch and its own dependencies are kept: `dropped={"torch"}`.

    Args:
        lock_text: the text of a lock written by `uv pip compile` (annotations on).
        dropped: normalised names to leave out.

    Returns:
        The lock's text with those blocks removed.
    """
    blocks: list[tuple[str | None, list[str]]] = []  # (package or None for header lines, lines)
    for line in lock_text.splitlines():
        match = _PIN.match(line)
        if match:
            blocks.append((normalise_name(match.group(1)), [line]))
        elif line.startswith((" ", "\t")) and blocks and blocks[-1][0] is not None:
            blocks[-1][1].append(line)
        else:
            blocks.append((None, [line]))
    parents: dict[str, set[str]] = {}
    for name, lines in blocks:
        if name is None:
            continue
        found = set()
        for line in lines:
            match = _VIA_ONE.match(line) or _VIA_MANY.match(line)
            if match:
                # "moola (pyproject.toml)" and "-c requirements/cpu.txt" mean: asked for directly.
                parent = match.group(1)
                found.add(normalise_name(parent) if not parent.startswith("-") else "-")
        parents[name] = found
    gone = {normalise_name(name) for name in dropped}
    changed = True
    while changed:
        changed = False
        for name, via in parents.items():
            if name not in gone and via and via <= gone:
                gone.add(name)
                changed = True
    kept = [line for name, lines in blocks if name is None or name not in gone for line in lines]
    return "\n".join(kept) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m moola.environment stamp|pod-lock|record`: the lock chores `make` runs."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    if command == "stamp":
        print(f"{LOCK_FILE}: inputs sha256 {stamp_lock()[:12]}")
    elif command == "pod-lock":
        # The lock minus torch and what only torch needs, on stdout.
        sys.stdout.write(lock_without((_root(None) / LOCK_FILE).read_text(encoding="utf-8"), {"torch"}))
    elif command == "record":
        print(json.dumps(environment_record(), indent=2, sort_keys=True))
    else:
        print("usage: python -m moola.environment stamp | pod-lock | record", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
