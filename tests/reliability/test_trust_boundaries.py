"""Nothing loaded from disk or a remote may run code: a static scan of the package, and planted pickles at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "moola"
SOURCES = sorted(SRC.rglob("*.py"))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            yield node, owner, name


def _keyword(node: ast.Call, name: str):
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value
    return None


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(SRC).as_posix())
def test_no_unsafe_loading(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = []
    for node, owner, name in _calls(tree):
        where = f"{path.relative_to(SRC)}:{node.lineno}"
        if owner == "yaml" and name in ("load", "load_all", "unsafe_load", "full_load"):
            problems.append(f"{where}: yaml.{name} (use yaml.safe_load)")
        if owner == "torch" and name == "load":
            flag = _keyword(node, "weights_only")
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                problems.append(f"{where}: torch.load without weights_only=True")
        if owner in ("pickle", "cPickle", "dill", "cloudpickle", "marshal") and name in ("load", "loads"):
            problems.append(f"{where}: {owner}.{name}")
        if isinstance(node.func, ast.Name) and name in ("eval", "exec"):
            problems.append(f"{where}: {name}()")
        if name == "load" and owner in ("np", "numpy"):
            flag = _keyword(node, "allow_pickle")
            if isinstance(flag, ast.Constant) and flag.value is True:
                problems.append(f"{where}: np.load(allow_pickle=True)")
        if name in ("read_pickle",):
            problems.append(f"{where}: {name}")
        if owner == "subprocess" or name in ("Popen", "system"):
            shell = _keyword(node, "shell")
            if isinstance(shell, ast.Constant) and shell.value is True:
                problems.append(f"{where}: subprocess with shell=True")
    assert not problems, "\n".join(problems)


def test_scan_sees_the_package():
    assert len(SOURCES) >= 10


# ----- at run time: a planted resume state never runs code -----------------------------------------

PLANTED_STATES = {
    "train": ("artifacts/models/.enhanced_simple_lstm.fold_0.state", "artifacts/models/enhanced_simple_lstm/fold_0.pt"),
    "pretrain-ts2vec": ("artifacts/ts2vec/.encoder_v1.pt.state", "artifacts/ts2vec/encoder_v1.pt"),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(PLANTED_STATES))
def test_planted_pickle_as_resume_state_is_ignored_not_run(command, prepared_project, tmp_path):
    # The resume state is the one torch file a stage reads without being told to: a file dropped
    # there must be refused by weights_only=True, and the run must start fresh and end as usual.
    import torch
    from hostile_cases import MARKER, RunsCommandWhenUnpickled
    from reliability_project import copy_project, moola_command, run, sha256_file

    state, output = PLANTED_STATES[command]
    root = copy_project(prepared_project.root, tmp_path / "project")
    torch.save({"format": "anything", "payload": RunsCommandWhenUnpickled(f"touch {root / MARKER}")}, root / state)
    result = run(moola_command(command), root, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (root / MARKER).exists(), "the planted pickle was executed"
    assert "ignoring unreadable resumable state" in result.stdout
    assert not (root / state).exists()
    assert sha256_file(root / output) == sha256_file(prepared_project.root / output)
