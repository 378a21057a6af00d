"""`moola` command line: argument parsing and error-to-exit-code mapping, nothing else.

Each command lives in its own module, which provides `add_arguments(parser)` and
`run(args) -> int | None`. Those modules import only the standard library at the top, so
`moola --help` answers at once; torch, pandas and sklearn load inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# name -> (module, one-line help). Order is the order in `moola --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "check-params": (
        "moola.stages.check_params",
        "stage 0: check every section of params.yaml before DVC touches an output",
    ),
    "build-windows": ("moola.stages.build_windows", "stage 1: validate raw OHLC, cut and label windows"),
    "make-splits": ("moola.stages.make_splits", "stage 2: forward-chaining split with purge and embargo"),
    "synth-cache": ("moola.stages.synth_cache", "stage 3: synthetic windows from train rows only"),
    "pretrain-ts2vec": ("moola.stages.pretrain_ts2vec", "stage 4: TS2Vec self-supervised encoder pretraining"),
    "train": ("moola.stages.train", "stage 5: train the selected model with guards and a status report"),
    "evaluate": ("moola.stages.evaluate", "stage 6: metrics pack, plots and the run manifest"),
    "audit": ("moola.lineage.audit_cli", "re-verify a run from its manifest"),
    "compare": (
        "moola.lineage.compare",
        "run A minus run B on their common out-of-fold windows, with intervals and p-values",
    ),
    "data": ("moola.data.catalog_cli", "list every dataset version, split and synthetic cache"),
    "models": ("moola.models.models_cli", "list the active models with roles and sizes"),
    "pod": ("moola.remote.pod_cli", "fresh GPU pod: pull, run a stage, push (see docs/RUNPOD.md)"),
    "deps": ("moola.codedeps", "the code each stage runs, derived from its imports; --check / --write dvc.yaml"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only the selected command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="moola",
        description="Reproducible OHLC window classification with scarce labels (DVC pipeline).",
    )
    from moola import __version__

    parser.add_argument("--version", action="version", version=f"moola {__version__}")
    quiet_help = "log warnings and errors only (results still print), no progress bars"
    parser.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
    parser.add_argument("-v", "--verbose", action="store_true", help="also debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
            command_parser.set_defaults(_run=module.run)
    return parser


def _configure_threads() -> None:
    # Make BLAS and torch respect MOOLA_THREADS before they are imported.
    threads = os.environ.get("MOOLA_THREADS")
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, threads)


def _quiet_closed_stdout() -> None:
    """The reader of stdout went away: point stdout at /dev/null so the exit flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured in-process)
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `moola` console script."""
    from moola.errors import MoolaError

    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(selected if selected in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    _configure_threads()
    try:
        from moola.progress import configure_logging, log_level

        configure_logging(log_level(args.quiet, args.verbose))
        code = args._run(args)
        sys.stdout.flush()  # inside the try: a reader that closed the pipe is met here, not at exit
    except BrokenPipeError:
        _quiet_closed_stdout()
        return 141  # as a shell reports a writer stopped by SIGPIPE (`moola data | head -1`)
    except MoolaError as exc:
        # One line, whatever a file or key named in the message holds.
        message = "\\n".join(str(exc).splitlines())
        print(f"moola {args.command}: error: {message}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"moola {args.command}: interrupted; outputs already written are complete", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
