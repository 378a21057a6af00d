"""Stage 1, `moola build-windows`: validate raw OHLC, cut and label windows, write both version folders."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

from moola.errors import MoolaError
from moola.params import require

SECTION = "build_windows"
CREATOR = "moola build-windows"
PLOT_FILE = "class_examples.png"
_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _default_raw_files() -> list[str]:
    return ["SPX_1d.parquet", "IXIC_1d.parquet", "EURUSD_1h.parquet", "GOOG_1d.parquet"]


@dataclasses.dataclass
class BuildWindowsParams:
    """Section `build_windows:` of params.yaml."""

    version: str = "v1"  # folder name under data/labeled_windows/ and data/unlabeled_windows/
    raw_files: list[str] = dataclasses.field(default_factory=_default_raw_files)  # parquet under data/raw/
    window: int = 256  # bars per window T (>= 64, the longest feature look-back)
    labeled_stride: int = 150  # bars between labeled windows
    unlabeled_stride: int = 4  # bars between unlabeled windows
    labels: typing.Literal["triple_barrier", "file"] = "triple_barrier"  # how labeled windows get labels
    labels_file: str = ""  # CSV under data/ (symbol, end, label) when labels: file
    barrier_k: float = 4.0  # barriers at +/- k * per-bar volatility target (about sqrt(horizon))
    horizon: int = 20  # vertical barrier, bars after the window end
    vol_span: int = 50  # EWM span (bars) of the return volatility target
    plot_examples: int = 3  # candlestick examples per class in plots/data/

    def validate(self) -> None:
        from moola.data.features import LONGEST_LOOKBACK, LONGEST_LOOKBACK_FEATURE

        check_version_name(self.version, f"{SECTION}.version")
        require(bool(self.raw_files), f"{SECTION}.raw_files", "list at least one parquet file under data/raw/")
        for i, name in enumerate(self.raw_files):
            require(name.endswith(".parquet"), f"{SECTION}.raw_files[{i}]", f"{name!r} must be a .parquet file")
            require("@" not in name, f"{SECTION}.raw_files[{i}]", f"{name!r}: '@' is reserved for window ids")
        stems = [Path(name).stem for name in self.raw_files]
        duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
        require(not duplicates, f"{SECTION}.raw_files", f"symbol {', '.join(duplicates)} is listed twice")
        require(
            self.window >= LONGEST_LOOKBACK,
            f"{SECTION}.window",
            f"= {self.window} is shorter than the longest feature look-back "
            f"({LONGEST_LOOKBACK_FEATURE}: {LONGEST_LOOKBACK} bars): use a window >= {LONGEST_LOOKBACK}",
        )
        require(self.labeled_stride >= 1, f"{SECTION}.labeled_stride", f"must be >= 1, got {self.labeled_stride}")
        require(
            self.unlabeled_stride >= 1, f"{SECTION}.unlabeled_stride", f"must be >= 1, got {self.unlabeled_stride}"
        )
        require(self.barrier_k > 0, f"{SECTION}.barrier_k", f"must be > 0, got {self.barrier_k}")
        require(self.horizon >= 1, f"{SECTION}.horizon", f"must be >= 1 bar, got {self.horizon}")
        require(
            2 <= self.vol_span < self.window,
            f"{SECTION}.vol_span",
            f"= {self.vol_span} must be >= 2 and < window ({self.window}), so every window end has a volatility target",
        )
        require(self.plot_examples >= 0, f"{SECTION}.plot_examples", f"must be >= 0, got {self.plot_examples}")
        if self.labels == "file":
            require(
                bool(self.labels_file),
                f"{SECTION}.labels_file",
                "is empty but labels is 'file': name the CSV under data/ (e.g. raw/labels.csv)",
            )


def check_version_name(version: str, key: str) -> None:
    """Refuse a version that is not a plain folder name (letters, digits, . _ -)."""
    require(
        bool(_VERSION_NAME.fullmatch(version)),
        key,
        f"{version!r} is not a plain folder name: use letters, digits, '.', '_' or '-' (e.g. v2)",
    )


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
    """Write one version folder atomically: arrays, windows.parquet, meta.json, manifest.json.

    Args:
        folder: data/labeled_windows/<version> or data/unlabeled_windows/<version>.
        window_set: the `moola.data.windows.WindowSet` to write.
        meta: `window_meta(...)`; the sha256 of every written file is added as `files`.
        manifest: written as manifest.json.
    """
    from moola.io import atomic_directory, save_npy, sha256_file, write_json, write_parquet

    with atomic_directory(folder) as tmp:
        for name, array in window_set.arrays().items():
            save_npy(tmp / name, array)
        write_parquet(tmp / "windows.parquet", window_set.windows)
        files = sorted(p.name for p in tmp.iterdir() if p.is_file() and not p.name.startswith("."))
        write_json(tmp / "meta.json", {**meta, "files": {name: sha256_file(tmp / name) for name in files}})
        write_json(tmp / "manifest.json", manifest)


def run(args) -> int:
    from moola.data.candles import class_examples_png
    from moola.data.labels import CLASS_NAMES, read_labels_file
    from moola.data.raw import read_raw_series
    from moola.data.windows import (
        file_labeled_windows,
        triple_barrier_windows,
        unlabeled_windows,
        window_meta,
    )
    from moola.environment import lock_record
    from moola.io import code_version, sha256_file, write_bytes
    from moola.params import load_base, load_params, load_section
    from moola.paths import data_root, project_root, relative_to_root, resolve_inside

    params = load_params()
    base = load_base(params)
    settings = load_section(BuildWindowsParams, SECTION, params)
    if args.data_version is not None:
        check_version_name(args.data_version, "--version")
        settings = dataclasses.replace(settings, version=args.data_version)
    data_dir = data_root()
    raw_dir = data_dir / "raw"

    series = []
    for name in settings.raw_files:
        path = resolve_inside(raw_dir, name, f"raw file {name!r} in {SECTION}.raw_files")
        series.append(read_raw_series(path, name, settings.window))
    labels_source = None
    if settings.labels == "triple_barrier":
        labeled = triple_barrier_windows(
            series, settings.window, settings.labeled_stride, settings.barrier_k, settings.horizon, settings.vol_span
        )
    else:
        labels_path = resolve_inside(data_dir, settings.labels_file, f"{SECTION}.labels_file")
        by_symbol = {raw.symbol: raw for raw in series}
        labeled = file_labeled_windows(
            series, settings.window, read_labels_file(labels_path, by_symbol, settings.window, settings.horizon)
        )
        labels_source = {"file": settings.labels_file, "sha256": sha256_file(labels_path), "rows": labeled.n}
    if labeled.n == 0:
        raise MoolaError(
            f"no labeled window: every series is shorter than window + horizon "
            f"({settings.window} + {settings.horizon} bars); add bars or lower {SECTION}.window or {SECTION}.horizon"
        )
    unlabeled = unlabeled_windows(series, settings.window, settings.unlabeled_stride)

    outputs = {
        "labeled": (data_dir / "labeled_windows" / settings.version, labeled, settings.labels),
        "unlabeled": (data_dir / "unlabeled_windows" / settings.version, unlabeled, "none"),
    }
    metas = {kind: window_meta(ws, settings.version, method) for kind, (_, ws, method) in outputs.items()}
    # Check both folders before writing either, so a refusal changes nothing on disk.
    unchanged = {
        kind: refuse_rewrite(folder, metas[kind]["fingerprint"], settings.version, data_dir)
        for kind, (folder, _, _) in outputs.items()
    }
    manifest = {
        "creator": CREATOR,
        "sources": [
            {
                "file": raw.source,
                "sha256": raw.sha256,
                "rows": raw.n_bars,
                "first": raw.timestamp_text(0),
                "last": raw.timestamp_text(raw.n_bars - 1),
            }
            for raw in series
        ],
        "labels_file": labels_source,
        "params": {SECTION: dataclasses.asdict(settings), "base": {"seed": base.seed}},
        "code": code_version("data", "stages.build_windows"),
        "lock": lock_record(),
    }
    for kind, (folder, window_set, _) in outputs.items():
        write_version_folder(folder, window_set, metas[kind], {**manifest, "kind": kind})

    plot_path = project_root() / "plots" / "data" / PLOT_FILE
    if settings.plot_examples > 0:
        png = class_examples_png(
            labeled.ohlc,
            labeled.y,
            labeled.windows["id"].tolist(),
            CLASS_NAMES,
            settings.plot_examples,
            base.seed,
            title=f"labeled_windows/{settings.version}: {settings.plot_examples} examples per class "
            f"({settings.labels}), each window / its first close",
        )
        write_bytes(plot_path, png)

    total_bars = sum(raw.n_bars for raw in series)
    print(f"{CREATOR}: {len(series)} symbols, {total_bars:,} bars, T = {settings.window}")
    labeled_per_symbol = labeled.windows["symbol"].value_counts()
    unlabeled_per_symbol = unlabeled.windows["symbol"].value_counts()
    for raw in series:
        n_labeled = int(labeled_per_symbol.get(raw.symbol, 0))
        n_unlabeled = int(unlabeled_per_symbol.get(raw.symbol, 0))
        print(
            f"  {raw.symbol:<14} {raw.n_bars:>9,} bars  {raw.timestamp_text(0)} .. {raw.timestamp_text(raw.n_bars - 1)}"
            f"  labeled {n_labeled:>5,}  unlabeled {n_unlabeled:>8,}"
        )
    counts = ", ".join(f"{name} {count}" for name, count in labeled.class_counts().items())
    for kind, (folder, window_set, _) in outputs.items():
        state = "rewritten, content unchanged" if unchanged[kind] else "written"
        extra = f" ({counts})" if kind == "labeled" else ""
        print(f"  {kind:<9} {window_set.n:>9,} windows{extra} -> {relative_to_root(folder)} [{state}]")
    if settings.plot_examples > 0:
        print(f"  examples  {relative_to_root(plot_path)}")
    return 0
