"""Logs and progress bars: the `moola` logger's level and the one tqdm wrapper (README, Everyday commands).

Diagnostics go to `logging.getLogger(__name__)` in each module (children of `moola`); result
tables and status reports stay plain prints on stdout. The level comes from `moola -q` /
`moola -v` (given before the command) or, for DVC stages, the MOOLA_LOG_LEVEL environment
variable. Bars go to stderr only when it is a terminal, so DVC logs and CI output stay clean,
and never under `-q`. Standard library only at import time: tqdm loads with the first bar.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from moola.errors import MoolaError

LOGGER = "moola"
ENV_VAR = "MOOLA_LOG_LEVEL"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

T = TypeVar("T")


class _Handler(logging.StreamHandler):
    """Writes to the current sys.stderr; through tqdm while a bar may be drawn, so lines do not break it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # follow redirections (pytest's capsys, contextlib.redirect_stderr)
        tqdm_module = sys.modules.get("tqdm")
        if tqdm_module is None or not bars_enabled():
            super().emit(record)
            return
        try:
            tqdm_module.tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise; report as logging does
            self.handleError(record)


def log_level(quiet: bool = False, verbose: bool = False, environ: dict | None = None) -> int:
    """The level the flags ask for; without a flag, MOOLA_LOG_LEVEL; else INFO."""
    if quiet and verbose:
        raise MoolaError("-q/--quiet and -v/--verbose contradict each other: give at most one")
    if quiet:
        return logging.WARNING
    if verbose:
        return logging.DEBUG
    text = (os.environ if environ is None else environ).get(ENV_VAR, "").strip().lower()
    if not text:
        return logging.INFO
    if text not in LEVELS:
        raise MoolaError(f"{ENV_VAR}={text!r} is not a log level: use one of {', '.join(LEVELS)} (or unset it)")
    return LEVELS[text]


def configure_logging(level: int) -> logging.Logger:
    """Set the `moola` logger's level and give it one stderr handler (idempotent)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    if not any(isinstance(h, _Handler) for h in logger.handlers):
        handler = _Handler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.propagate = False
    return logger


def bars_enabled() -> bool:
    """True when stderr is a terminal and the `moola` logger shows info (not `-q`).

    From Python without the command line, bars show once the logger is at info, e.g. after
    `configure_logging(logging.INFO)`.
    """
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        tty = bool(isatty()) if isatty else False
    except ValueError:  # closed stream
        tty = False
    return tty and logging.getLogger(LOGGER).isEnabledFor(logging.INFO)


def progress(
    iterable: Iterable[T], total: int | None = None, desc: str | None = None, unit: str = "it", **options: Any
) -> Iterator[T]:
    """Iterate `iterable` with a tqdm bar on stderr when `bars_enabled()`; the items are unchanged.

    Args:
        iterable: what to iterate.
        total: its length when it has none (a generator).
        desc, unit: tqdm's label and unit.
        options: further tqdm options (leave, delay, ...).
    """
    if not bars_enabled():
        return iter(iterable)
    from tqdm import tqdm

    try:
        sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):  # no file descriptor behind sys.stderr
        sized = False
    # A terminal that reports no size (some containers' pseudo-terminals) gets 80 x 20, not an empty bar.
    width = {"dynamic_ncols": True} if sized else {"ncols": 80, "nrows": 20}
    return iter(tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, **width, **options))
