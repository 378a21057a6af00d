"""Each stage, run for real, loads only moola modules that its dvc.yaml deps cover.

The deps are derived from the stages' imports (`moola.codedeps`); this test checks the derivation
against what Python actually imports while a stage runs, so a dynamic import the derivation
missed would leave a stale output that `dvc status` calls up to date, and fails here instead.
"""

from __future__ import annotations

import json
import sys

import pytest
from reliability_project import STAGES, copy_project, run

from moola import codedeps

TRACE = (
    "import json, sys\n"
    "from moola import cli\n"
    "code = cli.main(sys.argv[2:])\n"
    "loaded = sorted(m for m in sys.modules if m == 'moola' or m.startswith('moola.'))\n"
    "open(sys.argv[1], 'w').write(json.dumps(loaded))\n"
    "sys.exit(code)\n"
)
COMMANDS = {stage: stage.replace("_", "-") for stage in STAGES}


@pytest.mark.slow  # about 40 s: runs all six stages once more on the tiny project
def test_every_module_a_stage_loads_is_a_dvc_dependency(prepared_project, tmp_path):
    root = copy_project(prepared_project.root, tmp_path / "project")
    deps = codedeps.dvc_src_deps((root / "dvc.yaml").read_text(encoding="utf-8"))
    for stage in STAGES:
        trace = tmp_path / f"{stage}.json"
        result = run([sys.executable, "-c", TRACE, str(trace), COMMANDS[stage]], root, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        loaded = [
            codedeps.SRC_PREFIX + "/" + codedeps.module_file(m).relative_to(codedeps.PACKAGE_DIR).as_posix()
            for m in json.loads(trace.read_text())
        ]
        assert codedeps.uncovered(loaded, deps[stage]) == [], f"stage {stage} loads code dvc.yaml does not name"
        assert set(loaded) <= set(codedeps.stage_files(stage)), f"stage {stage}: the derivation missed an import"
