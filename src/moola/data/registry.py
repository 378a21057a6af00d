"""DataRegistry: the one reader of window versions, splits and synthetic caches, with their proofs.

Every load checks what it reads before handing it out: file hashes and array shapes against
meta.json, the split against the labeled set (disjoint, in range, every row in one part,
fingerprint, purge and embargo), and a synthetic cache against the labeled version and split it
claims (parents must be train rows). Names given by users or files are resolved inside the data
root only, so ``../`` or an absolute path can never make it read elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moola import io
from moola.data import splits as split_rules
from moola.data.synth import window_content_sha256
from moola.errors import MoolaError
from moola.paths import data_root, resolve_inside

LABELED_DIR = "labeled_windows"
UNLABELED_DIR = "unlabeled_windows"
SPLITS_DIR = "splits"
SYNTHETIC_DIR = "synthetic_cache"
CLASS_NAMES = ["down", "neutral", "up"]
N_FEATURES = 20
N_OHLC = 4

# kind -> (folder under data/, what the name is called in messages, file suffix to strip)
_NAME_KINDS = {
    "labeled": (LABELED_DIR, "dataset", None),
    "unlabeled": (UNLABELED_DIR, "unlabeled dataset", None),
    "split": (SPLITS_DIR, "split name", ".json"),
    "synthetic": (SYNTHETIC_DIR, "synthetic cache", None),
}
_NAME_EXAMPLES = {"labeled": "v1", "unlabeled": "v1", "split": "fwd_chain_v3", "synthetic": "v1_temporal_q0.9_r0.5"}


@dataclass
class Part:
    """Rows of one part (train, val or test): arrays aligned row for row."""

    ohlc: np.ndarray  # (n, T, 4) float32
    feats: np.ndarray  # (n, 20) float32
    y: np.ndarray  # (n,) int64
    index: np.ndarray  # (n,) int64 row in the labeled arrays, -1 for synthetic rows
    parent: np.ndarray  # (n,) int64 labeled row a row came from (= index for real rows)
    is_synthetic: np.ndarray  # (n,) bool
    ids: list[str]  # window id (`<symbol>@<start>`) or `<cache>#<row>` for synthetic rows

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class WindowFolder:
    """A verified labeled or unlabeled version folder."""

    path: Path
    meta: dict[str, Any]
    ohlc: np.ndarray  # (N, T, 4) float32
    feats: np.ndarray  # (N, 20) float32
    y: np.ndarray | None  # (N,) int64, labeled only
    windows: pd.DataFrame  # one row per window, row order = array order


@dataclass
class SyntheticCache:
    """A verified synthetic cache folder."""

    path: Path
    name: str
    meta: dict[str, Any]
    ohlc: np.ndarray  # (M, T, 4) float32
    feats: np.ndarray  # (M, 20) float32
    y: np.ndarray  # (M,) int64
    provenance: pd.DataFrame  # row, parent_index, method, content_sha256 (+ mix_parent)


@dataclass
class LabeledData:
    """What `DataRegistry.load_labeled` returns: three parts plus everything that proves them."""

    train: Part
    val: Part
    test: Part
    meta: dict[str, Any]
    split: dict[str, Any]
    synthetic_meta: dict[str, Any] | None
    class_names: list[str]
    audit: dict[str, Any]
    paths: dict[str, Path | None]
    windows: pd.DataFrame = field(repr=False)


@dataclass
class UnlabeledData:
    """What `DataRegistry.load_unlabeled` returns."""

    ohlc: np.ndarray  # (N, T, 4) float32, memory-mapped when asked
    feats: np.ndarray | None  # (N, 20) float32 when the folder has X_feats20.npy
    windows: pd.DataFrame
    meta: dict[str, Any]
    path: Path


class DataRegistry:
    """Reads window versions, splits and synthetic caches under one data root, verifying each.

    Args:
        root: the data/ folder; default `<project>/data` (see `moola.paths.data_root`).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).resolve() if root is not None else data_root()

    # ----- names -------------------------------------------------------------------------------

    def clean_name(self, name: str | os.PathLike, kind: str) -> str:
        """Turn ``v1``, ``labeled_windows/v1`` or ``splits/x.json`` into the bare name, refusing escapes.

        Args:
            name: the name as given; ``data/`` and the kind's folder prefix are optional.
            kind: labeled | unlabeled | split | synthetic.

        Returns:
            The bare folder or file stem, guaranteed to stay inside its folder.
        """
        folder, what, suffix = _NAME_KINDS[kind]
        text = os.fspath(name)
        resolve_inside(self.root, text, what)  # absolute paths and '..' are refused here
        bare = text.replace("\\", "/").rstrip("/")
        for prefix in ("data/", f"{folder}/"):
            if bare.startswith(prefix):
                bare = bare[len(prefix) :]
        if suffix and bare.endswith(suffix):
            bare = bare[: -len(suffix)]
        if not bare or "/" in bare or bare.startswith("."):
            raise MoolaError(
                f"{what} {text!r} is not a name under data/{folder}/: give e.g. {_NAME_EXAMPLES[kind]}"
            )
        return bare

    def path_of(self, name: str | os.PathLike, kind: str) -> Path:
        """Return the folder (or split file) a name refers to, resolved inside the data root."""
        folder, what, suffix = _NAME_KINDS[kind]
        bare = self.clean_name(name, kind)
        return resolve_inside(self.root / folder, bare + (suffix or ""), what)

    # ----- single artefacts --------------------------------------------------------------------

    def read_windows(
        self, version: str | os.PathLike, kind: str = "labeled", mmap: bool = False, verify: bool = True
    ) -> WindowFolder:
        """Read and verify one window version folder.

        Args:
            version: ``v1`` or ``labeled_windows/v1`` (``unlabeled_windows/v1`` for kind unlabeled).
            kind: labeled | unlabeled.
            mmap: memory-map the arrays instead of reading them.
            verify: check every file's sha256 against meta.json `files`.

        Returns:
            The folder's arrays, windows frame and meta.
        """
        folder = self.path_of(version, kind)
        label = f"{_NAME_KINDS[kind][0]}/{folder.name}"
        if not folder.is_dir():
            raise MoolaError(
                f"{kind} version {label} not found under {self.root}: run moola build-windows (or dvc pull)"
            )
        meta = io.read_json(folder / "meta.json", f"{label}/meta.json")
        if not isinstance(meta, dict) or meta.get("kind") != kind:
            raise MoolaError(
                f"{label}/meta.json does not describe a {kind} window set "
                f"(kind={meta.get('kind') if isinstance(meta, dict) else None!r}): rebuild it"
            )
        for key in ("n", "T", "fingerprint"):
            if key not in meta:
                raise MoolaError(f"{label}/meta.json lacks {key!r}: rebuild the version with moola build-windows")
        if verify:
            _verify_file_hashes(folder, meta, label)
        n, length = meta["n"], meta["T"]
        ohlc = io.load_npy(folder / "X_ohlc.npy", f"{label}/X_ohlc.npy", mmap=mmap)
        _check_array(ohlc, (n, length, N_OHLC), np.float32, f"{label}/X_ohlc.npy")
        feats = io.load_npy(folder / "X_feats20.npy", f"{label}/X_feats20.npy", mmap=mmap)
        _check_array(feats, (n, N_FEATURES), np.float32, f"{label}/X_feats20.npy")
        y = None
        if kind == "labeled":
            y = io.load_npy(folder / "y.npy", f"{label}/y.npy")
            _check_array(y, (n,), np.int64, f"{label}/y.npy")
            n_classes = len(meta.get("class_names") or CLASS_NAMES)
            if y.size and (y.min() < 0 or y.max() >= n_classes):
                row = int(np.flatnonzero((y < 0) | (y >= n_classes))[0])
                raise MoolaError(
                    f"{label}/y.npy row {row} holds label {int(y[row])}, not a class 0..{n_classes - 1}: rebuild it"
                )
        windows = _read_parquet(folder / "windows.parquet", f"{label}/windows.parquet")
        if len(windows) != n:
            raise MoolaError(f"{label}/windows.parquet has {len(windows)} rows but meta.json says n={n}: rebuild it")
        missing = [c for c in ("id", "symbol", "start", "end", "t1") if c not in windows.columns]
        if missing:
            raise MoolaError(f"{label}/windows.parquet lacks column(s) {', '.join(missing)}: rebuild it")
        return WindowFolder(path=folder, meta=meta, ohlc=ohlc, feats=feats, y=y, windows=windows)

    def read_split(self, name: str | os.PathLike, labeled: WindowFolder) -> tuple[dict[str, Any], Path, str]:
        """Read a split file and validate it against a labeled folder.

        Args:
            name: ``fwd_chain_v3``, ``splits/fwd_chain_v3`` or ``splits/fwd_chain_v3.json``.
            labeled: the verified labeled folder it must belong to.

        Returns:
            (split document, its path, sha256 of its bytes).
        """
        path = self.path_of(name, "split")
        label = f"{SPLITS_DIR}/{path.name}"
        if not path.is_file():
            raise MoolaError(f"split {label} not found under {self.root}: run moola make-splits (or dvc pull)")
        split = io.read_json(path, label)
        split_rules.validate_split(
            split,
            n_rows=int(labeled.meta["n"]),
            where=label,
            fingerprint=labeled.meta["fingerprint"],
            version=labeled.meta.get("version", labeled.path.name),
            windows=labeled.windows,
        )
        return split, path, io.sha256_file(path)

    def read_synthetic(
        self,
        name: str | os.PathLike,
        labeled: WindowFolder,
        split: dict[str, Any],
        split_sha256: str,
    ) -> SyntheticCache:
        """Read a synthetic cache and prove it belongs to this labeled version and split.

        Refused when it names another labeled version, fingerprint, split or split content, when
        a parent is not a train row of the split, when a row's label differs from its parent's,
        or when arrays and provenance disagree with meta.json.
        """
        folder = self.path_of(name, "synthetic")
        label = f"{SYNTHETIC_DIR}/{folder.name}"
        if not folder.is_dir():
            raise MoolaError(
                f"synthetic cache {label} not found under {self.root}: run moola synth-cache (or dvc pull)"
            )
        meta = io.read_json(folder / "meta.json", f"{label}/meta.json")
        version = labeled.meta.get("version", labeled.path.name)
        expected = {
            "labeled_version": version,
            "labeled_fingerprint": labeled.meta["fingerprint"],
            "split_name": split["name"],
            "split_sha256": split_sha256,
        }
        for key, value in expected.items():
            if meta.get(key) != value:
                raise MoolaError(
                    f"synthetic cache {label} was built from {key} {str(meta.get(key))[:24]!r}, not "
                    f"{str(value)[:24]!r}: rebuild it for this data with moola synth-cache"
                )
        _verify_file_hashes(folder, meta, label)
        ohlc = io.load_npy(folder / "X_ohlc.npy", f"{label}/X_ohlc.npy")
        n = meta.get("n")
        _check_array(ohlc, (n, int(labeled.meta["T"]), N_OHLC), np.float32, f"{label}/X_ohlc.npy")
        feats = io.load_npy(folder / "X_feats20.npy", f"{label}/X_feats20.npy")
        _check_array(feats, (n, N_FEATURES), np.float32, f"{label}/X_feats20.npy")
        y = io.load_npy(folder / "y.npy", f"{label}/y.npy")
        _check_array(y, (n,), np.int64, f"{label}/y.npy")
        provenance = _read_parquet(folder / "provenance.parquet", f"{label}/provenance.parquet")
        _check_provenance(provenance, ohlc, y, labeled.y, split, label)
        return SyntheticCache(
            path=folder, name=folder.name, meta=meta, ohlc=ohlc, feats=feats, y=y, provenance=provenance
        )

    # ----- the two loaders of docs/ARCHITECTURE.md ---------------------------------------------

    def load_labeled(
        self,
        version: str | os.PathLike = "v1",
        split_name: str | os.PathLike = "fwd_chain_v3",
        include_synthetic: bool = False,
        synthetic_version: str | os.PathLike | None = None,
    ) -> LabeledData:
        """Load a labeled version cut by a split, optionally with a synthetic cache added to train.

        Args:
            version: ``v1`` or ``labeled_windows/v1``.
            split_name: ``fwd_chain_v3``, ``splits/fwd_chain_v3`` or ``splits/fwd_chain_v3.json``.
            include_synthetic: append the synthetic cache's rows to train (never to val/test).
            synthetic_version: the cache name (``v1_temporal_q0.9_r0.5`` or
                ``synthetic_cache/v1_temporal_q0.9_r0.5``); required when include_synthetic.

        Returns:
            `LabeledData` with train/val/test parts, meta, split, audit trail and paths.
        """
        labeled = self.read_windows(version, "labeled")
        split, split_path, split_sha256 = self.read_split(split_name, labeled)
        parts = {name: _real_part(labeled, np.asarray(split[name], dtype=np.int64)) for name in split_rules.PARTS}
        synthetic = None
        if include_synthetic:
            if synthetic_version is None:
                raise MoolaError(
                    "include_synthetic is true but no synthetic cache was named: "
                    "set train.synthetic or pass synthetic_version"
                )
            synthetic = self.read_synthetic(synthetic_version, labeled, split, split_sha256)
            parts["train"] = _concat_parts(parts["train"], _synthetic_part(synthetic))
        n_real = int((~parts["train"].is_synthetic).sum())
        n_synthetic = int(parts["train"].is_synthetic.sum())
        audit = {
            "n_real_train": n_real,
            "n_synthetic_train": n_synthetic,
            "synthetic_ratio": round(n_synthetic / n_real, 6) if n_real else 0.0,
            "n_val": len(parts["val"]),
            "n_test": len(parts["test"]),
            "n_purged": len(split["purged"]),
            "val_synthetic": int(parts["val"].is_synthetic.sum()),
            "test_synthetic": int(parts["test"].is_synthetic.sum()),
            "labeled_version": labeled.meta.get("version", labeled.path.name),
            "labeled_fingerprint": labeled.meta["fingerprint"],
            "split_name": split["name"],
            "split_strategy": split["strategy"],
            "split_time_ordered": split["time_ordered"],
            "split_purge": split["purge"],
            "split_embargo": split["embargo"],
            "split_sha256": split_sha256,
            "synthetic_version": synthetic.name if synthetic else None,
            "synthetic_fingerprint": synthetic.meta.get("fingerprint") if synthetic else None,
            "ks_pval": synthetic.meta.get("ks_pval") if synthetic else None,
        }
        return LabeledData(
            train=parts["train"],
            val=parts["val"],
            test=parts["test"],
            meta=labeled.meta,
            split=split,
            synthetic_meta=synthetic.meta if synthetic else None,
            class_names=list(labeled.meta.get("class_names") or CLASS_NAMES),
            audit=audit,
            paths={"labeled": labeled.path, "split": split_path, "synthetic": synthetic.path if synthetic else None},
            windows=labeled.windows,
        )

    def load_unlabeled(
        self, version: str | os.PathLike = "v1", mmap: bool = False, verify: bool = False
    ) -> UnlabeledData:
        """Load an unlabeled version (shapes checked against meta.json).

        Args:
            version: ``v1`` or ``unlabeled_windows/v1``.
            mmap: memory-map the arrays (large corpora).
            verify: also check every file's sha256 against meta.json (reads every byte).

        Returns:
            `UnlabeledData` with .ohlc (N, T, 4), .feats, .windows and .meta.
        """
        folder = self.read_windows(version, "unlabeled", mmap=mmap, verify=verify)
        return UnlabeledData(
            ohlc=folder.ohlc, feats=folder.feats, windows=folder.windows, meta=folder.meta, path=folder.path
        )


# ----- helpers ---------------------------------------------------------------------------------


def _verify_file_hashes(folder: Path, meta: dict[str, Any], label: str) -> None:
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        raise MoolaError(f"{label}/meta.json has no 'files' hashes to verify against: rebuild it")
    for file_name, expected in sorted(files.items()):
        path = resolve_inside(folder, file_name, f"file named in {label}/meta.json")
        if not path.is_file():
            raise MoolaError(
                f"{label}/{file_name} is missing (meta.json lists it): restore the folder (dvc checkout) or rebuild it"
            )
        if io.sha256_file(path) != expected:
            raise MoolaError(
                f"{label}/{file_name} does not match its sha256 in meta.json: the folder was modified after it "
                "was built; restore it (dvc checkout) or build a new version"
            )


def _check_array(array: np.ndarray, shape: tuple, dtype: Any, label: str) -> None:
    if array.dtype != np.dtype(dtype):
        raise MoolaError(f"{label} has dtype {array.dtype}, expected {np.dtype(dtype)}: rebuild it")
    if tuple(array.shape) != tuple(shape):
        raise MoolaError(f"{label} has shape {tuple(array.shape)} but meta.json implies {tuple(shape)}: rebuild it")


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    if not path.is_file():
        raise MoolaError(f"{label} not found: restore the folder (dvc checkout) or rebuild it")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise MoolaError(f"{label} cannot be read as parquet ({type(exc).__name__}): restore or rebuild it") from None


def _check_provenance(
    provenance: pd.DataFrame, ohlc: np.ndarray, y: np.ndarray, labeled_y: np.ndarray, split: dict, label: str
) -> None:
    missing = [c for c in ("row", "parent_index", "method", "content_sha256") if c not in provenance.columns]
    if missing:
        raise MoolaError(f"{label}/provenance.parquet lacks column(s) {', '.join(missing)}: rebuild the cache")
    if len(provenance) != len(y) or not np.array_equal(provenance["row"].to_numpy(), np.arange(len(y))):
        raise MoolaError(f"{label}/provenance.parquet does not list rows 0..{len(y) - 1} in order: rebuild the cache")
    train = np.asarray(split["train"], dtype=np.int64)
    parent_columns = ["parent_index"] + (["mix_parent"] if "mix_parent" in provenance.columns else [])
    for column in parent_columns:
        parents = provenance[column].to_numpy(dtype=np.int64)
        used = np.ones(parents.size, dtype=bool) if column == "parent_index" else parents >= 0  # -1 = no mix partner
        outside = np.flatnonzero(used & ~np.isin(parents, train))
        if outside.size:
            row = int(outside[0])
            parent = int(parents[row])
            part = next((p for p in split_rules.ALL_PARTS if parent in split[p]), "no part")
            raise MoolaError(
                f"{label}/provenance.parquet row {row}: {column} {parent} is not a train row of split "
                f"{split['name']} (it is in {part}): synthetic rows may only come from train; rebuild the cache"
            )
    parents = provenance["parent_index"].to_numpy(dtype=np.int64)
    wrong_label = np.flatnonzero(labeled_y[parents] != y)
    if wrong_label.size:
        row = int(wrong_label[0])
        raise MoolaError(
            f"{label}/y.npy row {row} has label {int(y[row])} but its parent row {int(parents[row])} has "
            f"{int(labeled_y[parents[row]])}: rebuild the cache"
        )
    hashes = provenance["content_sha256"].tolist()
    for row in range(len(y)):
        if window_content_sha256(ohlc[row]) != hashes[row]:
            raise MoolaError(
                f"{label}/X_ohlc.npy row {row} does not match its content_sha256 in provenance.parquet: "
                "rebuild the cache"
            )


def _real_part(labeled: WindowFolder, rows: np.ndarray) -> Part:
    ids = labeled.windows["id"].astype(str).to_numpy()
    return Part(
        ohlc=np.ascontiguousarray(labeled.ohlc[rows]),
        feats=np.ascontiguousarray(labeled.feats[rows]),
        y=np.ascontiguousarray(labeled.y[rows]),
        index=rows.copy(),
        parent=rows.copy(),
        is_synthetic=np.zeros(rows.size, dtype=bool),
        ids=ids[rows].tolist(),
    )


def _synthetic_part(cache: SyntheticCache) -> Part:
    n = len(cache.y)
    return Part(
        ohlc=cache.ohlc,
        feats=cache.feats,
        y=cache.y,
        index=np.full(n, -1, dtype=np.int64),
        parent=cache.provenance["parent_index"].to_numpy(dtype=np.int64),
        is_synthetic=np.ones(n, dtype=bool),
        ids=[f"{cache.name}#{row}" for row in range(n)],
    )


def _concat_parts(first: Part, second: Part) -> Part:
    return Part(
        ohlc=np.concatenate([first.ohlc, second.ohlc]),
        feats=np.concatenate([first.feats, second.feats]),
        y=np.concatenate([first.y, second.y]),
        index=np.concatenate([first.index, second.index]),
        parent=np.concatenate([first.parent, second.parent]),
        is_synthetic=np.concatenate([first.is_synthetic, second.is_synthetic]),
        ids=first.ids + second.ids,
    )
