""".dvc/config.local settings for one pod job only: written at its start, put back at its end."""

from __future__ import annotations

import contextlib
import re
import subprocess
from pathlib import Path
from typing import Callable, Iterator, Sequence

ABSENT = "# moola pod: config.local did not exist\n"


def _paths(root: Path) -> tuple[Path, Path]:
    return root / ".dvc" / "config.local", root / ".dvc" / "tmp" / "moola-pod-config.local.saved"


def restore_config(root: Path) -> bool:
    """Put back the config.local a job saved and did not restore (it was killed); True if it did."""
    local, saved = _paths(root)
    if not saved.is_file():
        return False
    text = saved.read_text()
    if text == ABSENT:
        local.unlink(missing_ok=True)
    else:
        local.write_text(text)
    saved.unlink()
    return True


def _require_remote(root: Path, remote: str, dvc_command: Callable[..., list[str]]) -> None:
    """Refuse, in one line and before DVC is asked to change anything, a remote that is not configured."""
    from moola.errors import MoolaError

    # `dvc config --list` prints one `remote.<name>.url=...` line per remote at every level; `dvc remote
    # list` is a table that wraps a long URL onto lines of its own.
    listed = subprocess.run(dvc_command("config", "--list"), cwd=root, capture_output=True, text=True, errors="replace")
    if listed.returncode != 0:
        return  # DVC cannot read its config: the next step reports that in its own words
    found = (re.match(r"remote\.(.+)\.url=", line) for line in listed.stdout.splitlines())
    names = sorted({match.group(1) for match in found if match})
    if remote not in names:
        raise MoolaError(
            f"DVC remote {remote!r} (from --remote or $MOOLA_DVC_REMOTE) is not configured in .dvc/config "
            f"(configured: {', '.join(names) or 'none'}): name one of those or add it with `dvc remote add`"
        )


@contextlib.contextmanager
def temporary_remote_config(
    root: Path, remote: str, url: str | None, run: Callable[..., object], dvc_command: Callable[..., list[str]]
) -> Iterator[None]:
    """Make `remote` the default (and set its url) in config.local for the block, then undo it.

    The previous file is saved under .dvc/tmp first; a job killed inside the block leaves that
    copy, and the next job's `restore_config` puts it back before anything else, so a
    MOOLA_DVC_URL of one job never outlives it.

    Args:
        root: the project folder.
        remote: DVC remote name.
        url: its url for this job, or None to keep the configured one.
        run: `run_logged`-like callable (argv, what, cwd, hint).
        dvc_command: builds a DVC argv from its arguments.
    """
    local, saved = _paths(root)
    restore_config(root)
    _require_remote(root, remote, dvc_command)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(local.read_text() if local.is_file() else ABSENT)
    hint = "check .dvc/config and .dvc/config.local"
    try:
        steps: list[Sequence[str]] = []
        if url:
            steps.append(("remote", "modify", "--local", remote, "url", url))
        steps.append(("remote", "default", "--local", remote))
        for step in steps:
            run(dvc_command(*step), f"setting DVC remote {remote!r} for this job", root, hint)
        yield
    finally:
        restore_config(root)
