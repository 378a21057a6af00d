"""The command line: fast help, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from moola import cli


def test_help_lists_every_stage(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    for name in ("build-windows", "make-splits", "synth-cache", "pretrain-ts2vec", "train", "evaluate", "audit"):
        assert name in out


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from moola import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'pandas', 'sklearn', 'matplotlib', 'numpy') if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_a_closed_stdout_ends_quietly():
    """`moola models | head -0`: the reader is gone before the first line; no traceback, exit 0 or 141."""
    project = Path(__file__).resolve().parents[1]
    for command in (["models"], ["data"]):
        process = subprocess.Popen(
            [sys.executable, "-m", "moola.cli", *command],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        process.stdout.close()  # closed before the interpreter has started, so every write meets EPIPE
        err = process.stderr.read()
        assert process.wait(timeout=120) in (0, 141), err
        assert "Traceback" not in err and "Exception ignored" not in err, err
