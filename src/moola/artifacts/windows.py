"""Window version artifact: `data/labeled_windows/<v>/` and `data/unlabeled_windows/<v>/`.

A version folder holds the arrays (`X_ohlc.npy` (N, T, 4) f32, `X_feats20.npy` (N, 20) f32,
`y.npy` (N,) i64 for labeled sets), `windows.parquet` (one row per window, array order),
`meta.json` (shapes, class names and counts, content fingerprint, file hashes) and
`manifest.json` (sources, params, code). `write` is atomic and never replaces a version with
other content; `read` verifies hashes and shapes once; `problems` lists semantic faults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moola import io
from moola.artifacts import common, layout
from moola.errors import MoolaError

N_OHLC = 4
N_FEATURES = 20
REQUIRED_COLUMNS = ("id", "symbol", "start", "end", "t1")


@dataclass(frozen=True)
class WindowVersion:
    """A verified labeled or unlabeled version folder."""

    path: Path
    kind: str  # labeled | unlabeled
    meta: dict[str, Any]
    ohlc: Any  # (N, T, 4) float32
    feats: Any  # (N, 20) float32
    y: Any  # (N,) int64, labeled only (None for unlabeled)
    windows: Any = field(repr=False)  # pandas DataFrame, one row per window

    @property
    def version(self) -> str:
        return str(self.meta.get("version", self.path.name))

    @property
    def label(self) -> str:
        return f"{layout.WINDOW_DIRS[self.kind]}/{self.path.name}"

    @property
    def fingerprint(self) -> str:
        return str(self.meta["fingerprint"])

    @property
    def class_names(self) -> list[str]:
        return class_names_of(self.meta, self.label)

    def problems(self) -> list[str]:
        """Semantic faults: labels outside the classes, spans that end before they start."""
        import numpy as np

        found = []
        if self.kind == "labeled":
            n_classes = len(self.class_names)
            bad = np.flatnonzero((self.y < 0) | (self.y >= n_classes))
            if bad.size:
                found.append(f"{layout.Y} row {int(bad[0])} holds label {int(self.y[bad[0]])}, not a class 0..{n_classes - 1}")
        from moola.timespans import to_nanoseconds

        starts, t1s = to_nanoseconds(self.windows["start"]), to_nanoseconds(self.windows["t1"])
        early = np.flatnonzero(t1s < starts)
        if early.size:
            found.append(f"{layout.WINDOWS} row {int(early[0])} has t1 before its start")
        return found


def class_names_of(meta: dict[str, Any], label: str) -> list[str]:
    """The class names a labeled version (or anything built from it) declares in its meta.json."""
    names = meta.get("class_names")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) and n for n in names):
        raise MoolaError(f"{label}/{layout.META} has no list of two or more class_names: rebuild it")
    return list(names)


def read(data: Path, version: str, kind: str = "labeled", *, mmap: bool = False, verify: bool = True) -> WindowVersion:
    """Read and verify one window version folder.

    Args:
        data: the data/ folder.
        version: the bare version name (``v1``).
        kind: labeled | unlabeled.
        mmap: memory-map the arrays instead of reading them.
        verify: check every file's sha256 against meta.json `files` (reads every byte).

    Returns:
        The verified `WindowVersion`; raises MoolaError naming the file on any fault.
    """
    import numpy as np

    folder = layout.window_dir(data, kind, version)
    label = f"{layout.WINDOW_DIRS[kind]}/{folder.name}"
    if not folder.is_dir():
        raise MoolaError(f"{kind} version {label} not found under {common.shown(data)}: run moola build-windows (or dvc pull)")
    meta = common.read_meta(folder, label)
    if meta.get("kind") != kind:
        raise MoolaError(f"{label}/{layout.META} does not describe a {kind} window set (kind={str(meta.get('kind'))[:20]!r}): rebuild it")
    if not isinstance(meta.get("fingerprint"), str):
        raise MoolaError(f"{label}/{layout.META} lacks its 'fingerprint': rebuild the version with moola build-windows")
    n, length = common.require_int(meta, "n", label), common.require_int(meta, "T", label, minimum=1)
    if verify:
        common.verify_file_hashes(folder, meta, label)
    ohlc = io.load_npy(folder / layout.X_OHLC, f"{label}/{layout.X_OHLC}", mmap=mmap)
    common.check_array(ohlc, (n, length, N_OHLC), np.float32, f"{label}/{layout.X_OHLC}")
    feats = io.load_npy(folder / layout.X_FEATS, f"{label}/{layout.X_FEATS}", mmap=mmap)
    common.check_array(feats, (n, N_FEATURES), np.float32, f"{label}/{layout.X_FEATS}")
    y = None
    if kind == "labeled":
        y = io.load_npy(folder / layout.Y, f"{label}/{layout.Y}")
        common.check_array(y, (n,), np.int64, f"{label}/{layout.Y}")
    windows = common.read_parquet(folder / layout.WINDOWS, f"{label}/{layout.WINDOWS}")
    if len(windows) != n:
        raise MoolaError(f"{label}/{layout.WINDOWS} has {len(windows)} rows but {layout.META} says n={n}: rebuild it")
    missing = [c for c in REQUIRED_COLUMNS if c not in windows.columns]
    if missing:
        raise MoolaError(f"{label}/{layout.WINDOWS} lacks column(s) {', '.join(missing)}: rebuild it")
    found = WindowVersion(path=folder, kind=kind, meta=meta, ohlc=ohlc, feats=feats, y=y, windows=windows)
    faults = found.problems()
    if faults:
        raise MoolaError(f"{label}: {faults[0]}: rebuild it")
    return found


def refuse_rewrite(data: Path, kind: str, version: str, fingerprint: str, bump: str) -> bool:
    """True when the version exists with this fingerprint, False when absent; raises otherwise."""
    target = layout.window_dir(data, kind, version)
    return common.refuse_rewrite(
        target,
        fingerprint,
        lambda folder: common.read_meta(folder, common.shown(folder))["fingerprint"],
        what=f"{kind} window version",
        bump=bump,
    )


def write(data: Path, kind: str, version: str, arrays: dict[str, Any], windows: Any, meta: dict, manifest: dict) -> Path:
    """Write one version folder atomically: arrays, windows.parquet, meta.json, manifest.json.

    Args:
        data: the data/ folder.
        kind: labeled | unlabeled.
        version: the version name.
        arrays: file name -> array (X_ohlc.npy, X_feats20.npy and, labeled, y.npy).
        windows: the windows table (one row per window, array order).
        meta: the version's meta.json without `files`; the sha256 of every data file is added.
        manifest: written as manifest.json.

    Returns:
        The folder written.
    """
    folder = layout.window_dir(data, kind, version)
    with io.atomic_directory(folder) as tmp:
        for name, array in arrays.items():
            io.save_npy(tmp / name, array)
        io.write_parquet(tmp / layout.WINDOWS, windows)
        io.write_json(tmp / layout.META, {**meta, "files": common.file_hashes(tmp)})
        io.write_json(tmp / layout.MANIFEST, manifest)
    return folder


def version_names(data: Path, kind: str) -> list[str]:
    """The version folders of one kind, sorted (hidden temporary folders excluded)."""
    base = Path(data) / layout.WINDOW_DIRS[kind]
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def next_free_version(data: Path, version: str) -> str:
    """The first version after `version` that names no existing folder of either kind (v1 -> v2)."""
    candidate = common.bumped(version)
    while any(os.path.exists(layout.window_dir(data, kind, candidate)) for kind in layout.WINDOW_DIRS):
        candidate = common.bumped(candidate)
    return candidate
