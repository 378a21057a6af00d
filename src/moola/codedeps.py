"""What code a stage runs, derived from its imports: one list for dvc.yaml, code_version and run ids.

A stage's code is every moola module reachable from its command module through `import`
statements, the ones inside functions included (moola imports heavy modules lazily). The list
is computed from the source, never kept by hand, so `dvc.yaml` deps, the code hash recorded in
an output and a run's id cannot drift apart: `moola deps --write` rewrites the `src/` deps of
each stage in dvc.yaml from it, `moola deps --check` (and a test) refuses a dvc.yaml that
disagrees, and a slow test traces the modules each stage really loads and checks they are covered.
"""

from __future__ import annotations

import ast
import hashlib
import re
from functools import lru_cache
from pathlib import Path

import moola

PACKAGE_DIR = Path(moola.__file__).resolve().parent
SRC_PREFIX = "src/moola"

# stage name in dvc.yaml -> its command module
STAGE_MODULES = {
    "check_params": "moola.stages.check_params",
    "build_windows": "moola.stages.build_windows",
    "make_splits": "moola.stages.make_splits",
    "synth_cache": "moola.stages.synth_cache",
    "pretrain_ts2vec": "moola.stages.pretrain_ts2vec",
    "train": "moola.stages.train",
    "evaluate": "moola.stages.evaluate",
}
# Modules every command loads before its own (the console entry point).
ENTRY_MODULES = ("moola.cli",)
_TABLES_OF_MODULES = ("moola.cli", "moola.codedeps")
_MODULE_NAME = re.compile(r"^moola(\.[a-z_][a-z0-9_]*)+$")


def module_file(name: str) -> Path | None:
    """The source file of a moola module or package (None: not a moola module)."""
    if name != "moola" and not name.startswith("moola."):
        return None
    parts = name.split(".")[1:]
    if not parts:
        return PACKAGE_DIR / "__init__.py"
    relative = Path(*parts)
    candidates = [PACKAGE_DIR / relative.with_suffix(".py"), PACKAGE_DIR / relative / "__init__.py"]
    return next((c for c in candidates if c.is_file()), None)


@lru_cache(maxsize=None)
def direct_imports(name: str) -> frozenset[str]:
    """moola modules that module `name` imports anywhere in its source (functions included)."""
    file = module_file(name)
    if file is None:
        return frozenset()
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and name not in _TABLES_OF_MODULES:
            # importlib.import_module("moola.models.simple_lstm"): the model registry's specs. The
            # command table and this module's stage table are left out: they name modules they
            # do not load.
            if _MODULE_NAME.match(node.value):
                found.add(node.value)
    modules = {m for m in found if module_file(m) is not None}
    # importing a.b.c runs a/__init__ and a/b/__init__ too
    for module in list(modules):
        parts = module.split(".")
        modules.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(m for m in modules if module_file(m) is not None and m != name)


def reachable(roots: tuple[str, ...]) -> list[str]:
    """Every moola module reachable from `roots` through imports, sorted."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen or module_file(module) is None:
            continue
        seen.add(module)
        todo.extend(direct_imports(module))
    return sorted(seen)


def stage_code(stage: str) -> list[str]:
    """The moola modules stage `stage` can run, sorted (importing a module runs its packages' __init__ too)."""
    roots = (*ENTRY_MODULES, STAGE_MODULES[stage])
    parents = {".".join(root.split(".")[:i]) for root in roots for i in range(1, root.count(".") + 1)}
    return reachable((*roots, *sorted(parents)))


def stage_files(stage: str) -> list[str]:
    """The project-relative source files of `stage_code(stage)` (``src/moola/...py``)."""
    return sorted(f"{SRC_PREFIX}/{module_file(m).relative_to(PACKAGE_DIR).as_posix()}" for m in stage_code(stage))


def compact(files: list[str]) -> list[str]:
    """`files` with every package folder whose .py files are all listed written as the folder."""
    project = PACKAGE_DIR.parent.parent
    chosen = set(files)
    folders = {str(Path(f).parent) for f in files}
    folders |= {str(parent) for f in folders for parent in Path(f).parents if str(parent).startswith(SRC_PREFIX + "/")}
    taken: list[str] = []
    for folder in sorted(folders - {SRC_PREFIX}, key=lambda f: (f.count("/"), f)):
        if any(result_folder_covers(t, folder) for t in taken):
            continue
        every = {f"{folder}/{p.relative_to(project / folder).as_posix()}" for p in (project / folder).rglob("*.py")}
        if every and every <= chosen:
            taken.append(folder)
    return sorted([f for f in files if not any(result_folder_covers(t, f) for t in taken)] + taken)


def result_folder_covers(entry: str, path: str) -> bool:
    """Whether dvc.yaml entry `entry` (a file or folder) covers `path`."""
    return path == entry or path.startswith(entry.rstrip("/") + "/")


def code_version(stage: str | None = None) -> dict[str, str]:
    """The package version and one sha256 over the source of what `stage` runs (None: all of moola).

    Depends on file contents only (not on git or the clock), so unchanged code gives
    byte-identical outputs on any machine.
    """
    files = (
        stage_files(stage)
        if stage
        else sorted(f"{SRC_PREFIX}/{p.relative_to(PACKAGE_DIR).as_posix()}" for p in PACKAGE_DIR.rglob("*.py"))
    )
    digest = hashlib.sha256()
    for relative in files:
        file = PACKAGE_DIR / relative[len(SRC_PREFIX) + 1 :]
        digest.update(relative[len(SRC_PREFIX) + 1 :].encode("utf-8") + b"\0")
        digest.update(file.read_bytes())
    return {"moola": moola.__version__, "code_sha256": digest.hexdigest()}


# ----- dvc.yaml ----------------------------------------------------------------------------------

_STAGE_LINE = re.compile(r"^  (\w+):\s*$")
_DEP_LINE = re.compile(r"^    - (src/moola\S*)\s*$")


def dvc_src_deps(text: str) -> dict[str, list[str]]:
    """The `src/moola...` deps of each stage in dvc.yaml text."""
    deps: dict[str, list[str]] = {}
    stage = None
    section = None
    for line in text.splitlines():
        match = _STAGE_LINE.match(line)
        if match:
            stage, section = match.group(1), None
            deps.setdefault(stage, [])
            continue
        if stage and re.match(r"^    (\w+):", line):
            section = line.strip().rstrip(":")
            continue
        dep = _DEP_LINE.match(line)
        if stage and section == "deps" and dep:
            deps[stage].append(dep.group(1))
    return deps


def uncovered(files: list[str], deps: list[str]) -> list[str]:
    """The files no dvc.yaml dep entry covers."""
    return [f for f in files if not any(result_folder_covers(d, f) for d in deps)]


def problems(text: str) -> list[str]:
    """How dvc.yaml's src deps disagree with the derived code of each stage."""
    found = []
    deps = dvc_src_deps(text)
    for stage in STAGE_MODULES:
        derived = compact(stage_files(stage))
        if deps.get(stage) != derived:
            missing = uncovered(stage_files(stage), deps.get(stage, []))
            detail = f"missing {', '.join(missing[:4])}" if missing else "lists code the stage does not import"
            found.append(f"stage {stage}: src deps differ from its imports ({detail})")
    return found


def rewrite(text: str) -> str:
    """dvc.yaml text with each stage's `src/moola...` deps replaced by the derived, compacted list."""
    lines = text.splitlines()
    out: list[str] = []
    stage = None
    section = None
    for line in lines:
        match = _STAGE_LINE.match(line)
        if match:
            stage, section = match.group(1), None
        elif stage and re.match(r"^    (\w+):", line):
            if section == "deps" and stage in STAGE_MODULES:
                out.extend(f"    - {entry}" for entry in compact(stage_files(stage)))
            section = line.strip().rstrip(":")
        if stage in STAGE_MODULES and section == "deps" and _DEP_LINE.match(line):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


# ----- `moola deps` -------------------------------------------------------------------------------


def add_arguments(parser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--check", action="store_true", help="exit 1 when dvc.yaml's src deps differ from the stages' imports"
    )
    group.add_argument("--write", action="store_true", help="rewrite the src deps of every stage in dvc.yaml")


def run(args) -> int:
    from moola import io
    from moola.errors import MoolaError
    from moola.paths import project_root

    path = project_root() / "dvc.yaml"
    if not path.is_file():
        raise MoolaError(f"no dvc.yaml in {project_root()}: run moola deps inside the project")
    text = path.read_text(encoding="utf-8")
    if args.write:
        new = rewrite(text)
        if new != text:
            io.write_text(path, new)
        print(
            f"dvc.yaml: src deps of {len(STAGE_MODULES)} stages {'rewritten' if new != text else 'already up to date'}"
        )
        return 0
    found = problems(text)
    if args.check:
        if found:
            raise MoolaError(f"dvc.yaml {found[0]}: run `moola deps --write` and commit dvc.yaml")
        print("dvc.yaml: every stage's src deps match its imports")
        return 0
    for stage in STAGE_MODULES:
        print(f"{stage}: {len(stage_files(stage))} modules")
        for entry in compact(stage_files(stage)):
            print(f"  {entry}")
    return 1 if found else 0
