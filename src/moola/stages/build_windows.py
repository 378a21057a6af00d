"""Stage 1, `moola build-windows`: validate raw OHLC, cut and label windows, write both version folders."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

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


def next_free_version(version: str, data_dir: Path) -> str:
    """Suggest the first version after `version` that names no existing folder (v1 -> v2)."""
    match = re.fullmatch(r"(.*?)(\d+)", version)
    prefix, number = (match.group(1), int(match.group(2))) if match else (f"{version}_", 1)
    while True:
        number += 1
        candidate = f"{prefix}{number}"
        if not any((data_dir / kind / candidate).exists() for kind in ("labeled_windows", "unlabeled_windows")):
            return candidate


def refuse_rewrite(folder: Path, fingerprint: str, version: str, data_dir: Path) -> bool:
    """Stop when `folder` holds a different version under the same name.

    Returns:
        True when the folder exists with the same content fingerprint (it may be rewritten with
        identical data), False when it does not exist.
    """
    from moola.io import read_json
    from moola.paths import relative_to_root

    if not folder.exists():
        return False
    where = relative_to_root(folder)
    suggestion = next_free_version(version, data_dir)
    advice = (
        f"a version is never rewritten: set {SECTION}.version to a new name (e.g. {suggestion}) or run "
        f"moola build-windows --version {suggestion}; delete {where} only if nothing uses it"
    )
    try:
        old = read_json(folder / "meta.json", "meta.json").get("fingerprint")
    except (MoolaError, AttributeError):
        old = None
    if not isinstance(old, str):
        raise MoolaError(f"{where} exists but has no readable meta.json fingerprint: {advice}")
    if old != fingerprint:
        raise MoolaError(
            f"{where} already exists with different content (fingerprint {old[:12]} on disk, "
            f"{fingerprint[:12]} now): {advice}"
        )
    return True


def write_version_folder(folder: Path, window_set, meta: dict, manifest: dict) -> None:
    """Write an in-memory WindowSet atomically: arrays, windows.parquet, meta.json (+ files' sha256), manifest.json."""
    from moola.io import atomic_directory, save_npy

    with atomic_directory(folder) as tmp:
        for name, array in window_set.arrays().items():
            save_npy(tmp / name, array)
        finish_version_folder(tmp, window_set.windows, meta, manifest, {})


def stream_arrays(folder: Path, plan, workers: int = 1) -> tuple[dict[str, str], dict[str, str]]:
    """Write a WindowPlan's .npy files chunk by chunk (bytes equal to np.save's), hashing as they go.

    Args:
        folder: the (temporary) version folder.
        plan: a `moola.data.windows.WindowPlan` without labels.
        workers: threads computing blocks ahead of the writer.

    Returns:
        ({file: array digest for the fingerprint}, {file: sha256 of the file}).
    """
    import hashlib
    import io

    import numpy as np

    from moola.data.windows import array_hasher

    shapes = plan.shapes()
    handles, digests, file_sums = {}, {}, {}
    try:
        for name, (shape, dtype) in shapes.items():
            header = io.BytesIO()
            descr = np.lib.format.dtype_to_descr(dtype)
            np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
            handles[name] = open(folder / name, "wb")
            handles[name].write(header.getvalue())
            file_sums[name] = hashlib.sha256(header.getvalue())
            digests[name] = array_hasher(dtype, shape)
        for block in plan.chunks(workers):  # (ohlc (k, T, 4), feats (k, 20)), rows in order
            for name, array in zip(shapes, block):
                data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
                handles[name].write(data)
                file_sums[name].update(data)
                digests[name].update(data)
    finally:
        for handle in handles.values():
            handle.close()
    return {n: d.hexdigest() for n, d in digests.items()}, {n: d.hexdigest() for n, d in file_sums.items()}


def finish_version_folder(tmp: Path, table, meta: dict, manifest: dict, known_sha256: dict[str, str]) -> None:
    """Write windows.parquet, meta.json (with every file's sha256) and manifest.json into `tmp`."""
    from moola.io import sha256_file, write_json, write_parquet

    write_parquet(tmp / "windows.parquet", table)
    files = sorted(p.name for p in tmp.iterdir() if p.is_file() and not p.name.startswith("."))
    sums = {name: known_sha256.get(name) or sha256_file(tmp / name) for name in files}
    write_json(tmp / "meta.json", {**meta, "files": sums})
    write_json(tmp / "manifest.json", manifest)


def workers(threads: int) -> int:
    """Threads for cutting windows: MOOLA_THREADS, else base.threads, else every CPU (outputs do not depend on it)."""
    import os

    override = os.environ.get("MOOLA_THREADS")
    return max(1, int(override) if override else threads or os.cpu_count() or 1)


def run(args) -> int:
    from moola.data.candles import class_examples_png
    from moola.data.labels import read_labels_file
    from moola.data.raw import read_symbols
    from moola.data.windows import file_labeled_windows, fingerprint_of, triple_barrier_windows, unlabeled_windows
    from moola.data.windows import window_meta
    from moola.io import atomic_directory, code_version, sha256_file, write_bytes
    from moola.params import load_base, load_params, load_section
    from moola.paths import data_root, project_root, relative_to_root, resolve_inside

    params = load_params()
    base = load_base(params)
    s = load_section(BuildWindowsParams, SECTION, params)
    if args.data_version is not None:
        check_version_name(args.data_version, "--version")
        s = dataclasses.replace(s, version=args.data_version)
    data_dir = data_root()
    series, files = read_symbols(data_dir / "raw", s.raw_files, s.symbols, s.window)
    max_gap = s.max_gap_ns()
    labels_source = None
    if s.labels == "triple_barrier":
        plan = triple_barrier_windows(series, s.window, s.labeled_stride, s.barrier_k, s.horizon, s.vol_span, max_gap)
    else:
        path = resolve_inside(data_dir, s.labels_file, f"{SECTION}.labels_file")
        labels = read_labels_file(path, {raw.symbol: raw for raw in series}, s.window, s.classes, s.min_quality)
        plan = file_labeled_windows(series, s.window, labels, max_gap)
        labels_source = {
            "file": s.labels_file, "sha256": sha256_file(path), "rows": labels.rows, "kept": plan.n,
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
        {"file": r.source, "sha256": r.sha256, "rows": r.n_bars, "first": r.timestamp_text(0),
         "last": r.timestamp_text(r.n_bars - 1)}
        for r in files
    ]
    manifest = {
        "creator": CREATOR,
        "sources": sources,
        "labels_file": labels_source,
        "params": {SECTION: dataclasses.asdict(s), "base": {"seed": base.seed}},
        "code": code_version("data", "stages.build_windows"),
    }
    labeled_folder = data_dir / "labeled_windows" / s.version
    unlabeled_folder = data_dir / "unlabeled_windows" / s.version
    # The unlabeled arrays stream into the temporary folder first; both folders are checked
    # before either is renamed into place, so a refusal changes nothing on disk.
    with atomic_directory(unlabeled_folder) as tmp:
        digests, file_sums = stream_arrays(tmp, unlabeled, workers(base.threads))
        metas = {
            "labeled": window_meta(labeled, s.version, s.labels),
            "unlabeled": window_meta(unlabeled, s.version, "none", fingerprint_of(digests, unlabeled.windows)),
        }
        unchanged = {
            "labeled": refuse_rewrite(labeled_folder, metas["labeled"]["fingerprint"], s.version, data_dir),
            "unlabeled": refuse_rewrite(unlabeled_folder, metas["unlabeled"]["fingerprint"], s.version, data_dir),
        }
        write_version_folder(
            labeled_folder, labeled, metas["labeled"], {**manifest, "kind": "labeled", "dropped": labeled.dropped}
        )
        finish_version_folder(
            tmp, unlabeled.windows, metas["unlabeled"],
            {**manifest, "kind": "unlabeled", "dropped": unlabeled.dropped}, file_sums,
        )

    plot_path = project_root() / "plots" / "data" / PLOT_FILE
    if s.plot_examples > 0:
        table = labeled.windows
        has_spans = bool((table["span_start"] >= 0).any())
        png = class_examples_png(
            labeled.ohlc, labeled.y, table["id"].tolist(), labeled.class_names, s.plot_examples, base.seed,
            title=f"labeled_windows/{s.version}: {s.plot_examples} examples per class "
            f"({s.labels}), each window / its first close{', shaded: marked span' if has_spans else ''}",
            spans=(table["span_start"].to_numpy(), table["span_end"].to_numpy()) if has_spans else None,
        )
        write_bytes(plot_path, png)
    print_summary(s, series, labeled, unlabeled, unchanged, {"labeled": labeled_folder, "unlabeled": unlabeled_folder})
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
