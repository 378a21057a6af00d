"""Shared pieces of the fuzz tests: a trained tiny project, in-process runs, refusal checks.

Every fuzz test works in one copy of a tiny project (made once per session, see
`trained_template`), writes one generated input into it, runs `moola.cli.main` in-process and
checks the promise of docs/RELIABILITY.md: exit code 1, exactly one stderr line
`moola <command>: error: ...`, no traceback, and nothing under data/, artifacts/, metrics/ or
plots/ touched (size and modification time of every file, so even a rewrite with the same bytes
counts as a change). The input is put back after each example.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

from hypothesis import HealthCheck, settings

WATCHED = ("data", "artifacts", "metrics", "plots")

# Deterministic in CI: the same examples on every run, no example database, nothing printed.
FUZZ_SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def fuzz_settings(max_examples: int):
    """hypothesis settings of every fuzz test: `max_examples` derandomized examples, no deadline."""
    return settings(max_examples=max_examples, **FUZZ_SETTINGS)


_TRAINED: dict[str, Path] = {}


def trained_template(data_stages_template: Path, tmp_path_factory, project_context) -> Path:
    """A tiny project after every stage up to `moola evaluate` (built once per session; never modify it)."""
    if "root" not in _TRAINED:
        from moola import cli

        root = tmp_path_factory.mktemp("fuzz_trained") / "project"
        shutil.copytree(data_stages_template, root)
        with project_context(root), contextlib.redirect_stdout(io.StringIO()):
            for command in (["train"], ["evaluate"]):
                assert cli.main(command) == 0, f"moola {command[0]} failed while building the fuzz template"
        _TRAINED["root"] = root
    return _TRAINED["root"]


def copy_template(template: Path, target: Path) -> Path:
    """A private copy of a template project."""
    shutil.copytree(template, target)
    return target


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under the watched folders."""
    found = {}
    for folder in WATCHED:
        for dirpath, _dirs, files in os.walk(root / folder):
            for name in files:
                path = Path(dirpath) / name
                stat = path.stat()
                found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def run_moola(root: Path, argv: list[str], project_context) -> tuple[int, str, str]:
    """Run `moola <argv>` in-process inside `root`; returns (exit code, stdout, stderr).

    An exception escaping `main` is a bug: it is not caught, so hypothesis shows it with the input.
    """
    from moola import cli

    out, err = io.StringIO(), io.StringIO()
    with project_context(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def check_refused(root: Path, argv: list[str], project_context, before: dict, restore) -> str:
    """Run the command and assert a clean refusal; returns the error line.

    `restore()` puts the project back; it runs before any assertion so a failing example does
    not spoil the examples after it.
    """
    code, out, err = run_moola(root, argv, project_context)
    after = snapshot(root)
    restore()
    shown = f"moola {' '.join(argv)} -> rc {code}\nstdout:\n{out[-2000:]}\nstderr:\n{err[-2000:]}"
    assert code == 1, shown
    assert "Traceback" not in out + err, shown
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one error line\n{shown}"
    assert lines[0].startswith(f"moola {argv[0]}: error: "), shown
    assert len(lines[0]) < 2000, f"the error line is {len(lines[0])} characters long\n{shown[:3000]}"
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    assert not changed, f"a refused command changed {changed}\n{shown}"
    return lines[0]
