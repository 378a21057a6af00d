"""Window version artifact: `data/labeled_windows/<v>/` and `data/unlabeled_windows/<v>/`.

A version folder holds the arrays (`X_ohlc.npy` (N, T, 4) f32, `X_feats20.npy` (N, 20) f32,
`y.npy` (N,) i64 for labeled sets), `windows.parquet` (one row per window, array order),
`meta.json` (shapes, class names and counts, content fingerprint, file hashes) and
`manifest.json` (sources, params, code). `write` is atomic and never replaces a version with
other content; `read` verifies hashes and shapes once; `problems` lists semantic faults.
"""

from __future__ import annotations

import hashlib
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
                found.append(
                    f"{layout.Y} row {int(bad[0])} holds label {int(self.y[bad[0]])}, not a class 0..{n_classes - 1}"
                )
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
        raise MoolaError(
            f"{kind} version {label} not found under {common.shown(data)}: run moola build-windows (or dvc pull)"
        )
    meta = common.read_meta(folder, label)
    if meta.get("kind") != kind:
        raise MoolaError(
            f"{label}/{layout.META} does not describe a {kind} window set (kind={str(meta.get('kind'))[:20]!r}): "
            "rebuild it"
        )
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


# ----- the content fingerprint ------------------------------------------------------------------


def array_hasher(dtype: Any, shape: tuple[int, ...]) -> Any:
    """A sha256 object primed with an array's dtype and shape; feed it the C-order bytes in order."""
    import numpy as np

    return hashlib.sha256(f"{np.dtype(dtype).str}|{tuple(int(n) for n in shape)}|".encode("ascii"))


def array_digest(array: Any) -> str:
    """sha256 of an array's dtype, shape and C-order bytes, without copying a contiguous array."""
    import numpy as np

    contiguous = np.ascontiguousarray(array)
    digest = array_hasher(contiguous.dtype, contiguous.shape)
    digest.update(contiguous.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def table_digest(table: Any) -> str:
    """sha256 of a windows table's column names, dtypes and values (independent of parquet encoding)."""
    import numpy as np
    import pandas as pd

    # Columns are tagged by kind (utc-ns, int64, text), not by dtype name, which differs
    # between pandas versions for the same text column.
    digest = hashlib.sha256()
    for name in table.columns:
        column = table[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            values = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
            digest.update(f"{name}|utc-ns|".encode("utf-8"))
            digest.update(np.ascontiguousarray(values.view("int64")).view(np.uint8))
        elif pd.api.types.is_integer_dtype(column.dtype):
            digest.update(f"{name}|int64|".encode("utf-8"))
            digest.update(np.ascontiguousarray(column.to_numpy(dtype="int64")).view(np.uint8))
        else:
            digest.update(f"{name}|text|".encode("utf-8"))
            digest.update("\x1f".join(map(str, column.tolist())).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def fingerprint_of(array_digests: dict[str, str], table) -> str:
    """The fingerprint from each array's digest (in WindowSet.arrays order) and the windows table."""
    lines = [f"{name}:{digest}" for name, digest in array_digests.items()]
    lines.append(f"windows.parquet:{table_digest(table)}")
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def fingerprint(arrays: dict[str, Any], table: Any) -> str:
    """The content fingerprint stored in meta.json: one sha256 over every array and the windows table.

    Two builds with equal arrays and equal windows tables have equal fingerprints, whatever the
    parquet library version; any change of a value, dtype, shape or row order changes it.

    Args:
        arrays: file name -> array, in the order the version writes them.
        table: the windows table.
    """
    return fingerprint_of({name: array_digest(array) for name, array in arrays.items()}, table)


# ----- writing a version --------------------------------------------------------------------------


def refuse_rewrite(data: Path, kind: str, version: str, fingerprint_now: str, bump: str) -> bool:
    """True when the version exists with this fingerprint, False when absent; raises otherwise."""
    target = layout.window_dir(data, kind, version)
    return common.refuse_rewrite(
        target,
        fingerprint_now,
        lambda folder: common.read_meta(folder, common.shown(folder))["fingerprint"],
        what=f"{kind} window version",
        bump=bump,
    )


# build_windows params that shape no window (only plots/data/): a version may be rebuilt with others.
PRESENTATION_PARAMS = ("plot_examples",)


def content_params(params: dict) -> dict:
    """The params that shape a version's windows: `PRESENTATION_PARAMS` left out of each section."""
    return {
        section: {k: v for k, v in values.items() if k not in PRESENTATION_PARAMS}
        if isinstance(values, dict)
        else values
        for section, values in params.items()
    }


def stored_params(folder: Path, defaults: dict) -> dict:
    """`content_params` of the params a version folder was built with (its manifest.json).

    A key added to a section since the version was built counts as stored with its default (in
    `defaults`, section -> {key: value}), so adding a param never bars an existing version.
    Raises KeyError/TypeError/MoolaError when the manifest cannot be read (refuse_rewrite says so).
    """
    from moola import io

    stored = io.read_json(folder / layout.MANIFEST, common.shown(folder / layout.MANIFEST))["params"]
    if not isinstance(stored, dict):
        raise TypeError("params is not a mapping")
    return content_params(
        {
            section: {**defaults.get(section, {}), **values} if isinstance(values, dict) else values
            for section, values in stored.items()
        }
    )


def write(
    data: Path, kind: str, version: str, arrays: dict[str, Any], windows: Any, meta: dict, manifest: dict
) -> Path:
    """Write one in-memory version folder atomically: arrays, windows.parquet, meta.json, manifest.json.

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
        finish(tmp, windows, meta, manifest, {})
    return folder


def stream_arrays(
    folder: Path, shapes: dict[str, tuple[tuple[int, ...], Any]], blocks: Any
) -> tuple[dict[str, str], dict[str, str]]:
    """Write .npy files block by block (bytes equal to np.save's), hashing as they go.

    For corpora larger than memory: the arrays never exist whole.

    Args:
        folder: the (temporary) version folder.
        shapes: file name -> (shape, dtype), in the order the version writes them.
        blocks: an iterator of tuples of arrays, one per file, consecutive rows in order.

    Returns:
        ({file: array digest for the fingerprint}, {file: sha256 of the file}).
    """
    import hashlib
    import io as bytes_io

    import numpy as np

    handles, digests, file_sums = {}, {}, {}
    try:
        for name, (shape, dtype) in shapes.items():
            header = bytes_io.BytesIO()
            descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
            np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
            handles[name] = open(folder / name, "wb")
            handles[name].write(header.getvalue())
            file_sums[name] = hashlib.sha256(header.getvalue())
            digests[name] = array_hasher(dtype, shape)
        for block in blocks:
            for name, array in zip(shapes, block, strict=False):
                chunk = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
                handles[name].write(chunk)
                file_sums[name].update(chunk)
                digests[name].update(chunk)
    finally:
        for handle in handles.values():
            handle.close()
    return {n: d.hexdigest() for n, d in digests.items()}, {n: d.hexdigest() for n, d in file_sums.items()}


def finish(tmp: Path, table: Any, meta: dict, manifest: dict, known_sha256: dict[str, str]) -> None:
    """Write windows.parquet, meta.json (with every data file's sha256) and manifest.json into `tmp`."""
    io.write_parquet(tmp / layout.WINDOWS, table)
    files = sorted(
        p.name for p in tmp.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != layout.MANIFEST
    )
    sums = {name: known_sha256.get(name) or io.sha256_file(tmp / name) for name in files if name != layout.META}
    io.write_json(tmp / layout.META, {**meta, "files": sums})
    io.write_json(tmp / layout.MANIFEST, manifest)


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
