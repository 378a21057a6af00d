"""Stage 1, `moola build-windows`: validate raw OHLC, cut and label windows, write both version folders."""

from __future__ import annotations

import dataclasses

from moola.errors import MoolaError
from moola.params import BUILD_WINDOWS as SECTION
from moola.params import BuildWindowsParams, check_version_name  # noqa: F401  (re-exported for callers)

CREATOR = "moola build-windows"
PLOT_FILE = "class_examples.png"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--version",
        dest="data_version",
        metavar="NAME",
        default=None,
        help="write this version instead of build_windows.version (e.g. v2)",
    )


def workers(threads: int) -> int:
    """Threads for cutting windows: MOOLA_THREADS, else base.threads, else every CPU (outputs do not depend on it)."""
    import os

    override = os.environ.get("MOOLA_THREADS")
    return max(1, int(override) if override else threads or os.cpu_count() or 1)


def run(args) -> int:
    from moola import io
    from moola.artifacts import layout
    from moola.artifacts import windows as window_artifact
    from moola.codedeps import code_version
    from moola.data.candles import class_examples_png
    from moola.data.features import check_window
    from moola.data.labels import read_labels_file
    from moola.data.raw import read_symbols
    from moola.data.windows import (
        file_labeled_windows,
        fingerprint_of,
        triple_barrier_windows,
        unlabeled_windows,
        window_meta,
    )
    from moola.environment import lock_record
    from moola.params import load_base, load_params, load_section
    from moola.paths import data_root, project_root, relative_to_root, resolve_inside

    params = load_params()
    base = load_base(params)
    s = load_section(BuildWindowsParams, SECTION, params)
    check_window(s.window)
    if args.data_version is not None:
        check_version_name(args.data_version, "--version")
        s = dataclasses.replace(s, version=args.data_version)
    data_dir = data_root()
    series, files = read_symbols(data_dir / layout.RAW, s.raw_files, s.symbols, s.window)
    max_gap = s.max_gap_ns()
    labels_source = None
    if s.labels == "triple_barrier":
        plan = triple_barrier_windows(series, s.window, s.labeled_stride, s.barrier_k, s.horizon, s.vol_span, max_gap)
    else:
        path = resolve_inside(data_dir, s.labels_file, f"{SECTION}.labels_file")
        labels = read_labels_file(path, {raw.symbol: raw for raw in series}, s.window, s.classes, s.min_quality)
        plan = file_labeled_windows(series, s.window, labels, max_gap)
        labels_source = {
            "file": s.labels_file,
            "sha256": io.sha256_file(path),
            "rows": labels.rows,
            "kept": plan.n,
            "dropped_by_min_quality": labels.dropped_quality,
        }
    if plan.n == 0:
        raise MoolaError(
            f"no labeled window: every series is shorter than window + horizon ({s.window} + {s.horizon} bars)"
            f"{' or every window straddles a gap longer than max_gap' if max_gap else ''}; add bars or lower "
            f"{SECTION}.window or {SECTION}.horizon"
        )
    labeled = plan.materialise()
    unlabeled = unlabeled_windows(series, s.window, s.unlabeled_stride, max_gap, labeled.class_names)
    sources = [
        {
            "file": r.source,
            "sha256": r.sha256,
            "rows": r.n_bars,
            "first": r.timestamp_text(0),
            "last": r.timestamp_text(r.n_bars - 1),
        }
        for r in files
    ]
    manifest = {
        "creator": CREATOR,
        "sources": sources,
        "labels_file": labels_source,
        "params": {SECTION: dataclasses.asdict(s), "base": {"seed": base.seed}},
        "code": code_version("build_windows"),
        "lock": lock_record(),
    }
    folders = {kind: layout.window_dir(data_dir, kind, s.version) for kind in ("labeled", "unlabeled")}
    suggestion = window_artifact.next_free_version(data_dir, s.version)
    bump = f"set {SECTION}.version to a new name (e.g. {suggestion}) or run moola build-windows --version {suggestion}"
    # The unlabeled arrays stream into the temporary folder first; both folders are checked
    # before either is renamed into place, so a refusal changes nothing on disk.
    with io.atomic_directory(folders["unlabeled"]) as tmp:
        digests, file_sums = window_artifact.stream_arrays(
            tmp, unlabeled.shapes(), unlabeled.chunks(workers(base.threads))
        )
        metas = {
            "labeled": window_meta(labeled, s.version, s.labels),
            "unlabeled": window_meta(unlabeled, s.version, "none", fingerprint_of(digests, unlabeled.windows)),
        }
        unchanged = {
            kind: window_artifact.refuse_rewrite(data_dir, kind, s.version, metas[kind]["fingerprint"], bump)
            for kind in folders
        }
        window_artifact.write(
            data_dir,
            "labeled",
            s.version,
            labeled.arrays(),
            labeled.windows,
            metas["labeled"],
            {**manifest, "kind": "labeled", "dropped": labeled.dropped},
        )
        window_artifact.finish(
            tmp,
            unlabeled.windows,
            metas["unlabeled"],
            {**manifest, "kind": "unlabeled", "dropped": unlabeled.dropped},
            file_sums,
        )

    plot_path = layout.plots_dir(project_root(), "data") / PLOT_FILE
    if s.plot_examples > 0:
        table = labeled.windows
        has_spans = bool((table["span_start"] >= 0).any())
        png = class_examples_png(
            labeled.ohlc,
            labeled.y,
            table["id"].tolist(),
            labeled.class_names,
            s.plot_examples,
            base.seed,
            title=f"labeled_windows/{s.version}: {s.plot_examples} examples per class "
            f"({s.labels}), each window / its first close{', shaded: marked span' if has_spans else ''}",
            spans=(table["span_start"].to_numpy(), table["span_end"].to_numpy()) if has_spans else None,
        )
        io.write_bytes(plot_path, png)
    print_summary(s, series, labeled, unlabeled, unchanged, folders)
    if s.plot_examples > 0:
        print(f"  examples  {relative_to_root(plot_path)}")
    return 0


def print_summary(s, series, labeled, unlabeled, unchanged: dict, folders: dict) -> None:
    """The stage's status lines: per symbol, per version folder, what was dropped."""
    from moola.paths import relative_to_root

    total_bars = sum(raw.n_bars for raw in series)
    print(f"{CREATOR}: {len(series)} symbols, {total_bars:,} bars, T = {s.window}")
    labeled_per_symbol = labeled.windows["symbol"].value_counts()
    unlabeled_per_symbol = unlabeled.windows["symbol"].value_counts()
    for raw in series:
        n_labeled = int(labeled_per_symbol.get(raw.symbol, 0))
        n_unlabeled = int(unlabeled_per_symbol.get(raw.symbol, 0))
        files = f" ({len(raw.file_names)} files)" if raw.file_names else ""
        print(
            f"  {raw.symbol:<14} {raw.n_bars:>9,} bars  {raw.timestamp_text(0)} .. {raw.timestamp_text(raw.n_bars - 1)}"
            f"  labeled {n_labeled:>5,}  unlabeled {n_unlabeled:>8,}{files}"
        )
    counts = ", ".join(f"{name} {count}" for name, count in labeled.class_counts().items())
    for kind, window_set in (("labeled", labeled), ("unlabeled", unlabeled)):
        state = "rewritten, content unchanged" if unchanged[kind] else "written"
        extra = f" ({counts})" if kind == "labeled" else ""
        dropped = "".join(f"; dropped by {why}: {n:,}" for why, n in window_set.dropped.items())
        print(f"  {kind:<9} {window_set.n:>9,} windows{extra} -> {relative_to_root(folders[kind])} [{state}]{dropped}")
