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

from moola.artifacts import layout
from moola.artifacts import split as split_artifact
from moola.artifacts import synthetic as synthetic_artifact
from moola.artifacts import windows as window_artifact
from moola.artifacts.split import Split
from moola.artifacts.synthetic import SyntheticCache
from moola.artifacts.windows import WindowVersion
from moola.errors import MoolaError
from moola.paths import data_root, resolve_inside

# kind -> (folder under data/, what the name is called in messages, file suffix to strip)
_NAME_KINDS = {
    "labeled": (layout.LABELED, "dataset", None),
    "unlabeled": (layout.UNLABELED, "unlabeled dataset", None),
    "split": (layout.SPLITS, "split name", layout.SPLIT_SUFFIX),
    "synthetic": (layout.SYNTHETIC, "synthetic cache", None),
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


WindowFolder = WindowVersion  # the name this module used before the artifact layer


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

    # The seed's names for the same arrays: X_* are the OHLC windows (n, T, 4), y_* the labels.
    @property
    def X_train(self) -> np.ndarray:  # noqa: N802 (the seed's public name)
        return self.train.ohlc

    @property
    def y_train(self) -> np.ndarray:
        return self.train.y

    @property
    def X_val(self) -> np.ndarray:  # noqa: N802
        return self.val.ohlc

    @property
    def y_val(self) -> np.ndarray:
        return self.val.y

    @property
    def X_test(self) -> np.ndarray:  # noqa: N802
        return self.test.ohlc

    @property
    def y_test(self) -> np.ndarray:
        return self.test.y

    @property
    def metadata(self) -> dict[str, Any]:
        """The labeled version's meta.json with the split's name and counts."""
        return {**self.meta, "split": self.split["name"], "split_counts": self.split["counts"]}

    @property
    def audit_trail(self) -> dict[str, Any]:
        """What the load proved: versions, fingerprints, hashes and row counts (= `audit`, see `_audit_trail`)."""
        return self.audit


DataContainer = LabeledData  # the seed's name for what `DataRegistry.load_labeled` returns


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
            raise MoolaError(f"{what} {text!r} is not a name under data/{folder}/: give e.g. {_NAME_EXAMPLES[kind]}")
        return bare

    def path_of(self, name: str | os.PathLike, kind: str) -> Path:
        """Return the folder (or split file) a name refers to, resolved inside the data root."""
        folder, what, suffix = _NAME_KINDS[kind]
        bare = self.clean_name(name, kind)
        return resolve_inside(self.root / folder, bare + (suffix or ""), what)

    # ----- single artefacts --------------------------------------------------------------------

    def read_windows(
        self, version: str | os.PathLike, kind: str = "labeled", mmap: bool = False, verify: bool = True
    ) -> WindowVersion:
        """Read and verify one window version folder (see `moola.artifacts.windows.read`).

        Args:
            version: ``v1`` or ``labeled_windows/v1`` (``unlabeled_windows/v1`` for kind unlabeled).
            kind: labeled | unlabeled.
            mmap: memory-map the arrays instead of reading them.
            verify: check every file's sha256 against meta.json `files`.
        """
        return window_artifact.read(self.root, self.clean_name(version, kind), kind, mmap=mmap, verify=verify)

    def read_split(self, name: str | os.PathLike, labeled: WindowVersion) -> tuple[dict[str, Any], Path, str]:
        """Read a split file and validate it against a labeled folder.

        Returns:
            (split document, its path, sha256 of its bytes).
        """
        split = split_artifact.read(self.root, self.clean_name(name, "split"), labeled)
        return split.doc, split.path, split.sha256

    def read_synthetic(
        self, name: str | os.PathLike, labeled: WindowVersion, split: dict[str, Any], split_sha256: str
    ) -> SyntheticCache:
        """Read a synthetic cache and prove it belongs to this labeled version and split."""
        found = Split(path=layout.split_file(self.root, split["name"]), doc=split, sha256=split_sha256)
        return synthetic_artifact.read(self.root, self.clean_name(name, "synthetic"), labeled, found)

    # ----- the two loaders of docs/ARCHITECTURE.md ---------------------------------------------

    def load_labeled(
        self,
        version: str | os.PathLike = "v1",
        split_name: str | os.PathLike = "fwd_chain_v3",
        include_synthetic: bool = False,
        synthetic_version: str | os.PathLike | None = None,
        fold: int | None = None,
    ) -> LabeledData:
        """Load a labeled version cut by a split, optionally with a synthetic cache added to train.

        Args:
            version: ``v1`` or ``labeled_windows/v1``.
            split_name: ``fwd_chain_v3``, ``splits/fwd_chain_v3`` or ``splits/fwd_chain_v3.json``.
            include_synthetic: append the synthetic cache's rows to train (never to val/test).
            synthetic_version: the cache name (``v1_temporal_q0.9_r0.5`` or
                ``synthetic_cache/v1_temporal_q0.9_r0.5``); required when include_synthetic.
            fold: the split's fold to cut (0..n_folds-1); None is the default fold, the last one.

        Returns:
            `LabeledData` with train/val/test parts, meta, split, audit trail and paths.
        """
        labeled = self.read_windows(version, "labeled")
        split, split_path, split_sha256 = self.read_split(split_name, labeled)
        n_folds = int(split["n_folds"])
        fold = n_folds - 1 if fold is None else fold
        split_artifact.fold_doc(split, fold)  # a fold the split does not have is refused here
        parts = {name: _real_part(labeled, split_artifact.rows(split, name, fold)) for name in split_artifact.PARTS}
        synthetic = None
        if include_synthetic:
            if synthetic_version is None:
                raise MoolaError(
                    "include_synthetic is true but no synthetic cache was named: "
                    "set train.synthetic or pass synthetic_version"
                )
            synthetic = self.read_synthetic(synthetic_version, labeled, split, split_sha256)
            parts["train"] = _concat_parts(
                parts["train"], _synthetic_part(synthetic, synthetic.fold_rows(fold, n_folds))
            )
        audit = _audit_trail(labeled, split, split_sha256, synthetic, parts, fold)
        return LabeledData(
            train=parts["train"],
            val=parts["val"],
            test=parts["test"],
            meta=labeled.meta,
            split=split,
            synthetic_meta=synthetic.meta if synthetic else None,
            class_names=labeled.class_names,
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


def _audit_trail(
    labeled: WindowVersion,
    split: dict[str, Any],
    split_sha256: str,
    synthetic: SyntheticCache | None,
    parts: dict[str, Part],
    fold: int,
) -> dict[str, Any]:
    """What a load proved, one flat dict (keys listed once in docs/DATA_LINEAGE.md, "The audit trail").

    The seed's keys (`labeled_version`, `split`, `synthetic_applied`, `synthetic_ratio`,
    `n_real_train`, `n_synthetic_train`, `val_synthetic_count`, `test_synthetic_count`) stand
    beside moola's own; `val_synthetic` / `test_synthetic` are the same counts under moola's names.
    """
    n_real = int((~parts["train"].is_synthetic).sum())
    n_synthetic = int(parts["train"].is_synthetic.sum())
    val_synthetic = int(parts["val"].is_synthetic.sum())
    test_synthetic = int(parts["test"].is_synthetic.sum())
    return {
        "labeled_version": labeled.meta.get("version", labeled.path.name),
        "split": split["name"],
        "synthetic_applied": synthetic is not None,
        "synthetic_ratio": round(n_synthetic / n_real, 6) if n_real else 0.0,
        "n_real_train": n_real,
        "n_synthetic_train": n_synthetic,
        "val_synthetic_count": val_synthetic,
        "test_synthetic_count": test_synthetic,
        "n_val": len(parts["val"]),
        "n_test": len(parts["test"]),
        "n_purged": len(split_artifact.fold_doc(split, fold)["purged_indices"]),
        "fold": fold,
        "n_folds": int(split["n_folds"]),
        "val_synthetic": val_synthetic,
        "test_synthetic": test_synthetic,
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


def _synthetic_part(cache: SyntheticCache, rows: np.ndarray) -> Part:
    n = len(rows)
    return Part(
        ohlc=np.ascontiguousarray(cache.ohlc[rows]),
        feats=np.ascontiguousarray(cache.feats[rows]),
        y=np.ascontiguousarray(cache.y[rows]),
        index=np.full(n, -1, dtype=np.int64),
        parent=cache.provenance["parent_index"].to_numpy(dtype=np.int64)[rows],
        is_synthetic=np.ones(n, dtype=bool),
        ids=[f"{cache.name}#{row}" for row in rows.tolist()],
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
