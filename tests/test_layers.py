"""Imports point down only: the layer table of docs/ARCHITECTURE.md, checked on every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "moola"


def layer_table(text: str) -> dict[str, int]:
    """{top-level moola name: layer number, 0 = top} from the ```layers block."""
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "docs/ARCHITECTURE.md has no ```layers block"
    return {name: depth for depth, line in enumerate(block.group(1).split("\n")) for name in line.split()}


def imports_of(source: str, module: str) -> list[tuple[int, str]]:
    """(line, imported moola module) for every import in `source`, those inside functions too."""
    found = []
    package = module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("moola.")]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                name = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [name]).rstrip(".")
            if name == "moola":
                # `from moola import __version__` reads the package itself, which every layer may
                found += [
                    (node.lineno, f"moola.{alias.name}") for alias in node.names if not alias.name.startswith("__")
                ]
            elif name.startswith("moola."):
                found.append((node.lineno, name))
    return found


def top(module: str) -> str:
    return module.split(".")[1]


def violations(package: Path, layers: dict[str, int]) -> list[str]:
    """Every import of a higher layer, every import of one stage by another, of models_extras from outside."""
    found = []
    for file in sorted(package.rglob("*.py")):
        relative = file.relative_to(package.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        if module == "moola":
            continue
        here = top(module).removesuffix(".py")
        for line, imported in imports_of(file.read_text(encoding="utf-8"), module):
            there = top(imported)
            where = f"{file.relative_to(package.parent.parent)}:{line} imports {imported}"
            if here not in layers or there not in layers:
                found.append(f"{where}: {here if here not in layers else there} is in no layer of docs/ARCHITECTURE.md")
            elif layers[there] < layers[here]:
                found.append(f"{where}: an upward import ({here} sits below {there})")
            elif here == there == "stages" and imported != module:
                found.append(f"{where}: a stage imports another stage")
            elif there == "models_extras" and here != "models_extras":
                found.append(f"{where}: nothing may import the legacy models")
    return found


def test_every_import_points_down():
    layers = layer_table((ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8"))
    assert violations(PACKAGE, layers) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "data/splits.py",
            "def f():\n    from moola.training import trainer\n",
            "an upward import (data sits below training)",
        ),
        ("artifacts/split.py", "import moola.data.registry\n", "an upward import (artifacts sits below data)"),
        ("stages/evaluate.py", "from moola.stages.train import run\n", "a stage imports another stage"),
        ("lineage/audit.py", "from moola.models_extras import tcn\n", "nothing may import the legacy models"),
        ("models/base.py", "from moola.nowhere import x\n", "nowhere is in no layer"),
    ],
)
def test_a_deliberate_bad_import_is_caught(tmp_path, module, source, expected):
    package = tmp_path / "moola"
    (package / module).parent.mkdir(parents=True)
    (package / module).write_text(source)
    layers = layer_table((ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8"))
    found = violations(package, layers)
    assert len(found) == 1 and expected in found[0], found
