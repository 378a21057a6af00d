"""Resumable state of a long stage: `.<output>.state` beside its output, keyed by its inputs.

Written after every epoch (atomically), read back only when its key — a hash of everything that
decides the run — equals the new run's, and deleted once the stage's outputs are complete. A
state that is unreadable or belongs to other inputs is ignored, never trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from moola import io
from moola.artifacts import layout
from moola.errors import MoolaError


def state_file(output: Path) -> Path:
    """Where the resumable state of `output` lives."""
    return layout.resume_state_file(output)


def save(path: Path, state_format: str, key: str, state: dict[str, Any]) -> None:
    """Write the state atomically with its format and key."""
    io.write_torch_file(path, {**state, "format": state_format, "key": key})


def load(path: Path | None, state_format: str, key: str, log: Callable[[str], None] = print) -> dict[str, Any] | None:
    """The saved state when it exists, is readable and has this format and key; else None."""
    if path is None or not path.is_file():
        return None
    try:
        state = io.read_torch_file(path, "resumable state")
    except MoolaError as exc:
        log(f"ignoring unreadable resumable state ({exc}); starting fresh")
        return None
    if not isinstance(state, dict) or state.get("format") != state_format or state.get("key") != key:
        log(f"ignoring {path.name}: it belongs to other params or data; starting fresh")
        return None
    return state


def discard(path: Path | None) -> None:
    """Delete the state once the outputs are written."""
    if path is not None:
        Path(path).unlink(missing_ok=True)
