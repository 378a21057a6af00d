"""Rules every versioned artifact shares: verified reads, hashed files, and no silent rewrite."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from moola import io
from moola.artifacts import layout
from moola.errors import MoolaError
from moola.paths import relative_to_root, resolve_inside


def shown(path: Path) -> str:
    """A path as messages show it: relative to the project root."""
    return relative_to_root(Path(path))


def bumped(name: str) -> str:
    """The next name of a version series: v1 -> v2, fwd_chain_v3 -> fwd_chain_v4, x -> x_v2."""
    match = re.fullmatch(r"(.*?)(\d+)", name)
    return f"{match.group(1)}{int(match.group(2)) + 1}" if match else f"{name}_v2"


def refuse_rewrite(
    target: Path,
    new_content: Any,
    read_old_content: Callable[[Path], Any],
    *,
    what: str,
    bump: str,
) -> bool:
    """The one rule for every versioned artifact: an existing version is never rewritten.

    Args:
        target: the version's folder or file.
        new_content: what defines the version about to be written (a fingerprint or a dict).
        read_old_content: reads the same from the existing target; may raise MoolaError.
        what: the artifact as messages name it ("labeled version", "split", "synthetic cache").
        bump: what the user changes to get a new version ("set make_splits.name to fwd_chain_v4").

    Returns:
        True when the target exists with the same content (nothing needs writing), False when
        it does not exist. Raises MoolaError when it exists with other content.
    """
    if not target.exists():
        return False
    advice = f"a {what} is never rewritten: {bump}; delete {shown(target)} yourself only if nothing uses it"
    try:
        old = read_old_content(target)
    except (MoolaError, AttributeError, KeyError, TypeError):
        raise MoolaError(f"{shown(target)} exists but cannot be read as a {what}: {advice}") from None
    if old != new_content:
        raise MoolaError(
            f"{shown(target)} already exists with different content ({_difference(old, new_content)}): {advice}"
        )
    return True


def _differing_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted names of the keys whose values differ, nested mappings followed down."""
    found = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differing_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}")
    return found


def _difference(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = _differing_keys(old, new)
        return "differs in " + ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
    if isinstance(old, str) and isinstance(new, str):
        return f"fingerprint {old[:12]} on disk, {new[:12]} now"
    return "the old content is not of this kind"


def read_meta(folder: Path, kind_label: str) -> dict[str, Any]:
    """Read a folder's meta.json as a mapping, refusing anything else."""
    meta = io.read_json(folder / layout.META, f"{kind_label}/{layout.META}")
    if not isinstance(meta, dict):
        raise MoolaError(f"{kind_label}/{layout.META} is not a JSON object: rebuild it")
    return meta


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every visible file in a folder being written (meta.json excluded)."""
    return {
        path.name: io.sha256_file(path)
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".") and path.name not in (layout.META, layout.MANIFEST)
    }


def verify_file_hashes(folder: Path, meta: dict[str, Any], label: str) -> None:
    """Refuse a folder whose files do not match the sha256 recorded in its meta.json."""
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        raise MoolaError(f"{label}/{layout.META} has no 'files' hashes to verify against: rebuild it")
    for file_name, expected in sorted(files.items()):
        path = resolve_inside(folder, str(file_name), f"file named in {label}/{layout.META}")
        if not path.is_file():
            raise MoolaError(
                f"{label}/{file_name} is missing ({layout.META} lists it): restore the folder (dvc checkout) or "
                "rebuild it"
            )
        if io.sha256_file(path) != expected:
            raise MoolaError(
                f"{label}/{file_name} does not match its sha256 in {layout.META}: the folder was modified after it "
                "was built; restore it (dvc checkout) or build a new version"
            )


def check_array(array: Any, shape: tuple, dtype: Any, label: str) -> None:
    """Refuse an array whose dtype or shape differs from what meta.json implies."""
    import numpy as np

    if array.dtype != np.dtype(dtype):
        raise MoolaError(f"{label} has dtype {array.dtype}, expected {np.dtype(dtype)}: rebuild it")
    if tuple(array.shape) != tuple(shape):
        raise MoolaError(f"{label} has shape {tuple(array.shape)} but {layout.META} implies {tuple(shape)}: rebuild it")


def require_int(meta: dict[str, Any], key: str, label: str, minimum: int = 0) -> int:
    """An integer field of a meta.json (refusing bools, floats, strings and negatives)."""
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MoolaError(
            f"{label}/{layout.META} field {key!r} = {str(value)[:40]!r} is not an integer >= {minimum}: rebuild it"
        )
    return value


def read_parquet(path: Path, label: str, columns: list[str] | None = None) -> Any:
    """Read a parquet file; a missing or damaged one is a one-line error."""
    import pandas as pd

    if not path.is_file():
        raise MoolaError(f"{label} not found: restore the folder (dvc checkout) or rebuild it")
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise MoolaError(f"{label} cannot be read as parquet ({type(exc).__name__}): restore or rebuild it") from None
