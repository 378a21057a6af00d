"""Progress bars and log levels: bars only on a terminal, `-q` / `-v` before the command, MOOLA_LOG_LEVEL."""

from __future__ import annotations

import logging
import os
import select
import sys
import types

import pytest

from moola import cli, progress


@pytest.fixture(autouse=True)
def fresh_logger(monkeypatch):
    """Each test starts and ends with the `moola` logger as an import leaves it."""
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    logger = logging.getLogger(progress.LOGGER)
    saved = (logger.level, list(logger.handlers), logger.propagate)
    yield
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


@pytest.fixture
def fake_command(monkeypatch):
    """A `moola demo` command that logs one info and one debug line and prints its result."""
    module = types.ModuleType("moola_demo_command")
    module.add_arguments = lambda parser: None

    def run(args):
        log = logging.getLogger("moola.demo")
        log.info("info line")
        log.debug("debug line")
        print("result table")
        return 0

    module.run = run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.COMMANDS, "demo", (module.__name__, "demo"))


def test_bars_are_off_when_stderr_is_not_a_terminal(capsys):
    progress.configure_logging(logging.INFO)
    assert list(progress.progress(range(5), desc="demo")) == [0, 1, 2, 3, 4]
    assert not progress.bars_enabled()
    assert capsys.readouterr().err == ""


def _bar_text(monkeypatch, level: int, columns: int = 100) -> str:
    """What progress() writes to a pseudo-terminal of `columns` standing in for stderr, at the given level."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24 if columns else 0, columns, 0, 0))
    with os.fdopen(slave, "w") as terminal:
        with monkeypatch.context() as patch:
            patch.setattr(sys, "stderr", terminal)
            progress.configure_logging(level)
            items = list(progress.progress(iter(range(3)), total=3, desc="demo bar", unit="step"))
        terminal.write("END-OF-TEST\n")  # the terminal hands writes over piece by piece: read up to this
        terminal.flush()
        received = b""
        while b"END-OF-TEST" not in received:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, f"the pseudo-terminal stopped after {received!r}"
            received += os.read(master, 65536)
    text = received.decode().split("END-OF-TEST")[0]
    os.close(master)
    assert items == [0, 1, 2]
    return text


@pytest.mark.parametrize("columns", [100, 0])  # 0: a pseudo-terminal that reports no size
def test_bars_are_on_for_a_terminal(monkeypatch, columns):
    text = _bar_text(monkeypatch, logging.INFO, columns)
    assert "demo bar" in text and "3/3" in text


def test_quiet_turns_bars_off_even_on_a_terminal(monkeypatch):
    assert _bar_text(monkeypatch, logging.WARNING) == ""


@pytest.mark.parametrize(
    ("argv", "shown", "hidden"),
    [
        (["demo"], ["info line"], ["debug line"]),
        (["-q", "demo"], [], ["info line", "debug line"]),
        (["--verbose", "demo"], ["info line", "debug line"], []),
    ],
)
def test_flags_before_the_command_set_the_level(fake_command, capsys, argv, shown, hidden):
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert out == "result table\n"  # results stay on stdout whatever the level
    for line in shown:
        assert f"moola.demo: {line}" in err
    for line in hidden:
        assert line not in err


def test_flags_after_the_command_are_refused(fake_command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", "-v"])
    assert exc.value.code == 2
    assert "unrecognized arguments: -v" in capsys.readouterr().err


def test_environment_sets_the_level_for_dvc_stages(fake_command, capsys, monkeypatch):
    monkeypatch.setenv(progress.ENV_VAR, "debug")
    assert cli.main(["demo"]) == 0
    assert "moola.demo: debug line" in capsys.readouterr().err
    monkeypatch.setenv(progress.ENV_VAR, "WARNING")
    assert cli.main(["demo"]) == 0
    assert "info line" not in capsys.readouterr().err
    assert cli.main(["-v", "demo"]) == 0  # a flag overrides the environment
    assert "debug line" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [(["-q", "-v", "demo"], None, "contradict"), (["demo"], "loud", "MOOLA_LOG_LEVEL='loud' is not a log level")],
)
def test_bad_levels_are_one_line_errors(fake_command, capsys, monkeypatch, argv, env, expected):
    if env is not None:
        monkeypatch.setenv(progress.ENV_VAR, env)
    assert cli.main(argv) == 1
    out, err = capsys.readouterr()
    assert out == ""  # the command did not run
    assert err.count("\n") == 1 and expected in err


def test_chunks_count_matches_the_blocks_yielded():
    import numpy as np

    from moola.data import windows
    from moola.data.raw import RawSeries

    n_bars, window = windows.CHUNK_WINDOWS + 100, 64
    bars = np.cumsum(np.ones((n_bars, 4), dtype=np.float64), axis=0) + 100.0
    bars[:, 1] += 1.0  # high above open/close
    bars[:, 2] -= 1.0  # low below
    raw = RawSeries(
        symbol="S",
        source="s.parquet",
        timestamps=np.arange(n_bars).astype("datetime64[m]").astype("datetime64[ns]"),
        ohlc=bars,
        volume=None,
        sha256="0" * 64,
    )
    plan = windows.unlabeled_windows([raw], window, 1, None, list(windows.CLASS_NAMES))
    assert plan.n_chunks() == 2
    assert sum(1 for _ in plan.chunks()) == plan.n_chunks()
