"""Synthetic cache artifact: `data/synthetic_cache/<version>_<family>_q<quality>_r<ratio>/`.

Holds `X_ohlc.npy`, `X_feats20.npy`, `y.npy`, `provenance.parquet` (for every synthetic row the
TRAIN row it came from, its method and the sha256 of its OHLC bytes), `augmentation_config.json`
and `meta.json` (lineage: labeled version and fingerprint, split name and sha256; the KS report).

Its rules live here once: a cache belongs to exactly one labeled version and split
(`lineage_problems`), every parent is a train row of that split with the same label, and every
row's bytes match its content hash (`provenance_problems`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moola import io
from moola.artifacts import common, layout
from moola.artifacts import split as split_artifact
from moola.artifacts.windows import N_FEATURES, N_OHLC
from moola.errors import MoolaError

# meta.json fields that do not define the cache (the code hash changes with every edit).
NON_CONTENT_FIELDS = ("files", "code")
PROVENANCE_COLUMNS = ("row", "parent_index", "method", "content_sha256")


def window_content_sha256(window: Any) -> str:
    """sha256 of one window's OHLC bytes as float32, C order: the provenance content hash.

    The one rule by which a window is recognised wherever its exact values reappear (guards,
    audit, provenance).
    """
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(window, dtype=np.float32).tobytes()).hexdigest()


def window_content_hashes(ohlc: Any) -> list[str]:
    """`window_content_sha256` of every window: (n, T, 4) -> n hex strings."""
    return [window_content_sha256(window) for window in ohlc]


@dataclass(frozen=True)
class SyntheticCache:
    """A verified synthetic cache folder."""

    path: Path
    meta: dict[str, Any]
    ohlc: Any  # (M, T, 4) float32
    feats: Any  # (M, 20) float32
    y: Any  # (M,) int64
    provenance: Any = field(repr=False)  # DataFrame: row, parent_index, method, content_sha256 (+ mix_parent)

    @property
    def name(self) -> str:
        return self.path.name

    def fold_rows(self, fold: int, n_folds: int) -> Any:
        """Rows of this cache grown from fold `fold`'s train rows (all rows of a one-fold cache)."""
        import numpy as np

        if "fold" not in self.provenance.columns:
            return np.arange(len(self.y)) if fold == n_folds - 1 else np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.provenance["fold"].to_numpy(dtype=np.int64) == fold)


def content(meta: Any) -> Any:
    """What defines a cache: its meta.json less the file hashes and the code hash."""
    if not isinstance(meta, dict):
        return meta
    return {key: value for key, value in meta.items() if key not in NON_CONTENT_FIELDS}


def lineage_problems(
    meta: dict[str, Any], labeled_meta: dict[str, Any], split_doc: dict[str, Any], split_sha256: str | None
) -> list[str]:
    """Ways a cache's meta.json disagrees with the labeled version and split it is used with."""
    expected = {
        "labeled_version": labeled_meta.get("version"),
        "labeled_fingerprint": labeled_meta.get("fingerprint"),
        "split_name": split_doc.get("name"),
    }
    if split_sha256 is not None:
        expected["split_sha256"] = split_sha256
    return [
        f"it was built from {key} {str(meta.get(key))[:24]!r}, not {str(value)[:24]!r}"
        for key, value in expected.items()
        if meta.get(key) != value
    ]


def provenance_problems(provenance: Any, ohlc: Any, y: Any, labeled_y: Any, split_doc: dict[str, Any]) -> list[str]:
    """Ways the provenance table breaks "synthetic rows come only from train rows"."""
    import numpy as np

    missing = [c for c in PROVENANCE_COLUMNS if c not in provenance.columns]
    if missing:
        return [f"{layout.PROVENANCE} lacks column(s) {', '.join(missing)}"]
    if len(provenance) != len(y) or not np.array_equal(provenance["row"].to_numpy(), np.arange(len(y))):
        return [f"{layout.PROVENANCE} does not list rows 0..{len(y) - 1} in order"]
    n_folds = int(split_doc.get("n_folds", 1))
    fold_of_row = (
        provenance["fold"].to_numpy(dtype=np.int64) if "fold" in provenance.columns else np.full(len(y), n_folds - 1)
    )
    if fold_of_row.size and (fold_of_row.min() < 0 or fold_of_row.max() >= n_folds):
        return [f"{layout.PROVENANCE} names a fold outside 0..{n_folds - 1} of split {split_doc['name']}"]
    parent_columns = ["parent_index"] + (["mix_parent"] if "mix_parent" in provenance.columns else [])
    for fold in np.unique(fold_of_row):
        train = split_artifact.rows(split_doc, "train", int(fold))
        in_fold = fold_of_row == fold
        for column in parent_columns:
            parents = provenance[column].to_numpy(dtype=np.int64)
            used = in_fold & (
                np.ones(parents.size, dtype=bool) if column == "parent_index" else parents >= 0
            )  # -1: none
            outside = np.flatnonzero(used & ~np.isin(parents, train))
            if outside.size:
                row, parent = int(outside[0]), int(parents[outside[0]])
                fold_doc = split_artifact.fold_doc(split_doc, int(fold))
                part = next(
                    (p for p in split_artifact.ALL_PARTS if parent in fold_doc[split_artifact.indices_key(p)]),
                    "no part",
                )
                return [
                    f"{layout.PROVENANCE} row {row}: {column} {parent} is not a train row of fold {int(fold)} of split "
                    f"{split_doc['name']} (it is in {part}): synthetic rows may only come from their fold's train rows"
                ]
    parents = provenance["parent_index"].to_numpy(dtype=np.int64)
    wrong = np.flatnonzero(labeled_y[parents] != y)
    if wrong.size:
        row = int(wrong[0])
        return [
            f"{layout.Y} row {row} has label {int(y[row])} but its parent row {int(parents[row])} has "
            f"{int(labeled_y[parents[row]])}"
        ]
    hashes = provenance["content_sha256"].astype(str).tolist()
    for row, digest in enumerate(window_content_hashes(ohlc)):
        if digest != hashes[row]:
            return [f"{layout.X_OHLC} row {row} does not match its content_sha256 in {layout.PROVENANCE}"]
    return []


def read(data: Path, name: str, labeled: Any, split: Any) -> SyntheticCache:
    """Read a synthetic cache and prove it belongs to this labeled version and split.

    Args:
        data: the data/ folder.
        name: the bare cache name.
        labeled: the verified labeled `WindowVersion`.
        split: the verified `Split` whose train rows must be the only parents.

    Returns:
        The verified `SyntheticCache`; raises MoolaError naming the file on any fault.
    """
    import numpy as np

    folder = layout.synthetic_dir(data, name)
    label = f"{layout.SYNTHETIC}/{folder.name}"
    if not folder.is_dir():
        raise MoolaError(
            f"synthetic cache {label} not found under {common.shown(data)}: run moola synth-cache (or dvc pull)"
        )
    meta = common.read_meta(folder, label)
    faults = lineage_problems(meta, labeled.meta, split.doc, split.sha256)
    if faults:
        raise MoolaError(f"synthetic cache {label}: {faults[0]}: rebuild it for this data with moola synth-cache")
    common.verify_file_hashes(folder, meta, label)
    n = common.require_int(meta, "n", label)
    ohlc = io.load_npy(folder / layout.X_OHLC, f"{label}/{layout.X_OHLC}")
    common.check_array(ohlc, (n, int(labeled.meta["T"]), N_OHLC), np.float32, f"{label}/{layout.X_OHLC}")
    feats = io.load_npy(folder / layout.X_FEATS, f"{label}/{layout.X_FEATS}")
    common.check_array(feats, (n, N_FEATURES), np.float32, f"{label}/{layout.X_FEATS}")
    y = io.load_npy(folder / layout.Y, f"{label}/{layout.Y}")
    common.check_array(y, (n,), np.int64, f"{label}/{layout.Y}")
    provenance = common.read_parquet(folder / layout.PROVENANCE, f"{label}/{layout.PROVENANCE}")
    faults = provenance_problems(provenance, ohlc, y, labeled.y, split.doc)
    if faults:
        raise MoolaError(f"synthetic cache {label}: {faults[0]}; rebuild the cache")
    return SyntheticCache(path=folder, meta=meta, ohlc=ohlc, feats=feats, y=y, provenance=provenance)


def write(
    data: Path, name: str, arrays: dict[str, Any], provenance: Any, config: dict, meta: dict
) -> tuple[Path, bool]:
    """Write a cache folder atomically unless the same cache is already there.

    Returns:
        (folder, True when it already held this cache and was left unchanged).
    """
    folder = layout.synthetic_dir(data, name)
    unchanged = common.refuse_rewrite(
        folder,
        content(meta),
        lambda target: content(common.read_meta(target, common.shown(target))),
        what="synthetic cache",
        bump="change synth_cache.quality, ratio or family for a new name",
    )
    if unchanged:
        return folder, True
    with io.atomic_directory(folder) as tmp:
        for file_name, array in arrays.items():
            io.save_npy(tmp / file_name, array)
        io.write_parquet(tmp / layout.PROVENANCE, provenance)
        io.write_json(tmp / layout.AUGMENTATION_CONFIG, config)
        io.write_json(tmp / layout.META, {**meta, "files": common.file_hashes(tmp)})
    return folder, False


def names(data: Path) -> list[str]:
    """Every cache folder under data/synthetic_cache/."""
    base = Path(data) / layout.SYNTHETIC
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) if base.is_dir() else []
