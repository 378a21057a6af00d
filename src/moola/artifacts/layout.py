"""Every folder and file name under data/ and artifacts/, in one place.

Nothing else in moola spells ``meta.json`` or ``data/splits``: code asks this module for the
path of an artifact, and `owner_of` tells which artifact a path belongs to, so a stage can
refuse to write into another artifact's place.
"""

from __future__ import annotations

import os
from pathlib import Path

from moola.errors import MoolaError

# ----- folders under the project root -----------------------------------------------------------
DATA = "data"
RAW = "raw"
LABELED = "labeled_windows"
UNLABELED = "unlabeled_windows"
SPLITS = "splits"
SYNTHETIC = "synthetic_cache"
ARTIFACTS = "artifacts"
ENCODERS = "artifacts/ts2vec"
MODELS = "artifacts/models"
RUNS = "artifacts/runs"
CHECKS = "artifacts/checks"
LATEST = "latest"
METRICS = "metrics"
PLOTS = "plots"

# ----- files inside a version folder ------------------------------------------------------------
META = "meta.json"
MANIFEST = "manifest.json"
X_OHLC = "X_ohlc.npy"
X_FEATS = "X_feats20.npy"
Y = "y.npy"
WINDOWS = "windows.parquet"
PROVENANCE = "provenance.parquet"
AUGMENTATION_CONFIG = "augmentation_config.json"
PREDICTIONS = "predictions.parquet"
SPLIT_SUFFIX = ".json"

# What each window-version kind is called in folders and messages.
WINDOW_DIRS = {"labeled": LABELED, "unlabeled": UNLABELED}


def data_dir(root: Path) -> Path:
    """`<root>/data`."""
    return Path(root) / DATA


def window_dir(data: Path, kind: str, version: str) -> Path:
    """`data/labeled_windows/<version>` or `data/unlabeled_windows/<version>`."""
    return Path(data) / WINDOW_DIRS[kind] / version


def split_file(data: Path, name: str) -> Path:
    """`data/splits/<name>.json`."""
    return Path(data) / SPLITS / f"{name}{SPLIT_SUFFIX}"


def synthetic_dir(data: Path, name: str) -> Path:
    """`data/synthetic_cache/<name>`."""
    return Path(data) / SYNTHETIC / name


def synthetic_name(version: str, family: str, quality: float, ratio: float) -> str:
    """The cache name `<version>_<family>_q<quality>_r<ratio>` (what dvc.yaml spells too)."""
    return f"{version}_{family}_q{quality}_r{ratio}"


def model_dir(root: Path, model: str) -> Path:
    """`artifacts/models/<model>/`: one checkpoint per fold and the training record."""
    return Path(root) / MODELS / model


def checkpoint_file(root: Path, model: str, fold: int, ablation: str | None = None) -> Path:
    """`artifacts/models/<model>/fold_<fold>.pt`; an ablation's: `.../ablation_<name>/fold_<fold>.pt`."""
    folder = model_dir(root, model) / f"ablation_{ablation}" if ablation else model_dir(root, model)
    return folder / f"fold_{fold}.pt"


def checkpoint_key(fold: int, ablation: str | None = None) -> str:
    """A checkpoint's name in the training record: its path relative to the model folder."""
    return f"ablation_{ablation}/fold_{fold}.pt" if ablation else f"fold_{fold}.pt"


def ablation_predictions(ablation: str) -> str:
    """`predictions_ablation_<name>.parquet`: an ablation's out-of-fold table beside PREDICTIONS."""
    return f"predictions_ablation_{ablation}.parquet"


def training_record_file(root: Path, model: str) -> Path:
    """`artifacts/models/<model>/record.json`, the record of the run that wrote the checkpoints."""
    return model_dir(root, model) / "record.json"


def training_state_file(root: Path, model: str, fold: int, ablation: str | None = None) -> Path:
    """`artifacts/models/.<model>[.ablation_<name>].fold_<fold>.state`: beside, not inside, the DVC output folder."""
    variant = f".ablation_{ablation}" if ablation else ""
    return Path(root) / MODELS / f".{model}{variant}.fold_{fold}.state"


def run_dir(root: Path, run_id: str) -> Path:
    """`artifacts/runs/<run_id>`."""
    return Path(root) / RUNS / run_id


def latest_run_dir(root: Path) -> Path:
    """`artifacts/runs/latest`."""
    return Path(root) / RUNS / LATEST


def resume_state_file(output: Path) -> Path:
    """The hidden resumable-state file kept beside a long stage's output: `.<name>.state`."""
    output = Path(output)
    return output.parent / f".{output.name}.state"


def params_check_file(root: Path) -> Path:
    """`artifacts/checks/params.json`: the constant output of the check_params stage."""
    return Path(root) / CHECKS / "params.json"


def metrics_file(root: Path, stage: str) -> Path:
    """`metrics/<stage>.json`."""
    return Path(root) / METRICS / f"{stage}.json"


def plots_dir(root: Path, stage: str) -> Path:
    """`plots/<stage>/`."""
    return Path(root) / PLOTS / stage


# ----- which artifact owns a path ----------------------------------------------------------------

_OWNERS = (
    (f"{DATA}/{RAW}", "raw data"),
    (f"{DATA}/{LABELED}", "labeled window version"),
    (f"{DATA}/{UNLABELED}", "unlabeled window version"),
    (f"{DATA}/{SPLITS}", "split"),
    (f"{DATA}/{SYNTHETIC}", "synthetic cache"),
    (ENCODERS, "TS2Vec encoder"),
    (MODELS, "model checkpoint"),
    (RUNS, "run manifest"),
    (CHECKS, "params check"),
)


def owner_of(root: Path, path: str | os.PathLike) -> str | None:
    """The artifact kind whose folder holds `path` (None: outside every artifact folder)."""
    candidate = Path(path)
    candidate = Path(os.path.normpath(candidate if candidate.is_absolute() else Path(root).resolve() / candidate))
    try:
        relative = candidate.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return None
    for prefix, kind in _OWNERS:
        if relative == prefix or relative.startswith(prefix + "/"):
            return kind
    return None


def require_owned_by(root: Path, path: str | os.PathLike, kind: str, what: str) -> Path:
    """Refuse an output path that lies outside its own artifact kind's folder.

    Args:
        root: the project root.
        path: the output path as given.
        kind: the artifact kind that may be written there (see `owner_of`).
        what: how the path was given, for the message ("--output", "params key x.y").

    Returns:
        The absolute path.
    """
    owner = owner_of(root, path)
    if owner != kind:
        place = f"inside the {owner} folder" if owner else "outside every artifact folder"
        expected = next(prefix for prefix, name in _OWNERS if name == kind)
        raise MoolaError(
            f"{what} {os.fspath(path)!r} lies {place}: a {kind} is written only under {expected}/; "
            f"give a path such as {expected}/<name>"
        )
    candidate = Path(path)
    return Path(os.path.normpath(candidate if candidate.is_absolute() else Path(root).resolve() / candidate))
