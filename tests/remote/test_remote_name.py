"""A remote that .dvc/config does not name is refused in one line, before DVC changes anything."""

from __future__ import annotations

import subprocess

import pytest

from moola.errors import MoolaError
from moola.remote.local_config import temporary_remote_config
from moola.remote.pod import dvc_command, run_logged


def test_an_unconfigured_remote_is_one_line_and_changes_no_config(tmp_path, capsys):
    subprocess.run(dvc_command("init", "--no-scm", "--quiet"), cwd=tmp_path, check=True)
    subprocess.run(dvc_command("remote", "add", "s3", str(tmp_path / "store")), cwd=tmp_path, check=True)
    config = (tmp_path / ".dvc" / "config").read_text()
    capsys.readouterr()
    with pytest.raises(MoolaError) as caught:
        with temporary_remote_config(tmp_path, "nosuch", None, run_logged, dvc_command):
            raise AssertionError("the block must not run")
    message = str(caught.value)
    assert "\n" not in message and "DVC remote 'nosuch'" in message and "configured: s3" in message
    assert capsys.readouterr().err == ""  # DVC's own error line is not echoed beside moola's
    assert (tmp_path / ".dvc" / "config").read_text() == config
    assert not (tmp_path / ".dvc" / "config.local").exists()
