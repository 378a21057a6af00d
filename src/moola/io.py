"""Every write to disk goes through here: temporary path first, then an atomic rename.

A stage killed at any instant leaves either the old complete output or the new complete output,
never a half-written file that a later step could mistake for a valid one. Readers turn missing
or corrupt files into one-line `MoolaError`s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from moola.errors import MoolaError

_CHUNK = 1 << 20


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_mode(path: Path, directory: bool) -> None:
    # mkstemp/mkdtemp create 0600/0700; give outputs the usual permissions a plain open() would.
    os.chmod(path, (0o777 if directory else 0o666) & ~_current_umask())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary sibling of `path` for writing; rename it over `path` on success.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    tmp = Path(tmp_name)
    try:
        _default_mode(tmp, directory=False)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_file(path, "wb") as handle:
        handle.write(data)


def dumps_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, two-space indent, no NaN, trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as canonical JSON to `path` atomically (byte-identical for equal objects)."""
    write_bytes(path, dumps_json(obj).encode("utf-8"))


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read a JSON file, turning a missing or malformed file into a one-line error."""
    file = Path(path)
    if not file.is_file():
        raise MoolaError(f"{what} not found: {file}")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MoolaError(f"{what} {file} is not valid JSON ({exc}): restore it or rebuild it") from None
    except RecursionError:
        raise MoolaError(f"{what} {file} nests values too deeply to read: restore it or rebuild it") from None


def save_npy(path: str | os.PathLike, array: Any) -> None:
    """Save a numpy array atomically (no pickle)."""
    import numpy as np

    with atomic_file(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


def load_npy(path: str | os.PathLike, what: str = "array", mmap: bool = False) -> Any:
    """Load a .npy file without pickle; a missing or corrupt file is a one-line error."""
    import numpy as np

    file = Path(path)
    if not file.is_file():
        raise MoolaError(f"{what} not found: {file}")
    try:
        return np.load(file, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, OSError, EOFError) as exc:
        raise MoolaError(f"{what} {file} cannot be read as a numpy array ({exc}): rebuild it") from None


def read_torch_file(path: str | os.PathLike, what: str) -> Any:
    """`torch.load(weights_only=True, map_location="cpu")` with one-line errors for bad files.

    A missing, truncated or foreign file, or one that holds a pickled object (which
    `weights_only=True` refuses to run), becomes a MoolaError naming the file.
    """
    import pickle

    import torch

    file = Path(path)
    if not file.is_file():
        raise MoolaError(f"{what} not found: {file}")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MoolaError(
            f"{what} {file} holds objects that weights_only=True refuses to load ({first_line[:160]}): "
            "it was not written by moola; rebuild it"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MoolaError(
            f"{what} {file} cannot be read ({reason[:160]}): it is truncated or not a torch file; rebuild it"
        ) from None


def parquet_bytes(frame: Any) -> bytes:
    """The bytes `write_parquet` writes for `frame`."""
    import io as bytes_io

    buffer = bytes_io.BytesIO()
    _write_parquet_to(buffer, frame)
    return buffer.getvalue()


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def write_parquet(path: str | os.PathLike, frame: Any) -> None:
    """Write a DataFrame to parquet atomically, its bytes set by its content as far as parquet allows.

    Nothing version-dependent is stored that can be left out: no pandas metadata block and no
    serialised Arrow schema (both name library versions or dtypes), text as `string` whichever
    pandas made it (pandas 3 hands over `large_string`), no compression codec (its output may
    change with the codec library), no column statistics (newer writers add fields to them;
    files this small are read whole), and every writer setting fixed here instead of taken from
    the library's defaults. What remains is the footer's `created_by` ("parquet-cpp-arrow
    version X"): pyarrow offers no way to set it, so the locked pyarrow fixes it. Reading gives
    the same dtypes back: timestamp[ns, UTC] -> datetime64[ns, UTC], int64, float64, text ->
    the reader's string dtype (pandas 3: str, pandas 2: object).

    Args:
        path: the file to write (replaced atomically).
        frame: the DataFrame; its index is not written.
    """
    with atomic_file(path, "wb") as handle:
        _write_parquet_to(handle, frame)


def _write_parquet_to(handle: Any, frame: Any) -> None:
    """`write_parquet`'s writer, to any binary handle (see its docstring for every setting)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.schema(
        [
            pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type, f.nullable)
            for f in table.schema
        ]
    )
    table = table.cast(schema).replace_schema_metadata(None)
    pq.write_table(
        table,
        handle,
        version="2.6",
        data_page_version="1.0",
        compression="none",
        use_dictionary=True,
        write_statistics=False,
        store_schema=False,
        row_group_size=1 << 20,
        data_page_size=1 << 20,
        dictionary_pagesize_limit=1 << 20,
        write_batch_size=1024,
        use_byte_stream_split=False,
        write_page_index=False,
        write_page_checksum=False,
        use_compliant_nested_type=True,
    )  # every setting pyarrow >= 15 offers; newer ones (max_rows_per_page) keep their defaults


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary sibling folder; on success it replaces `path` in one rename.

    If `path` already exists it is moved aside first and removed only after the new folder is
    in place, so a kill leaves either the old or the new folder (plus a stale `.tmp-` sibling
    that the next run removes). On an exception the temporary folder is deleted and `path` is
    untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        _default_mode(tmp, directory=True)
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        if final.exists():
            old = final.parent / f".{final.name}.tmp-old-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(path: str | os.PathLike) -> str:
    """Return one sha256 over a file or every file in a folder (relative names and contents).

    Hidden temporary siblings are not part of a folder, so they never change its hash.
    """
    root = Path(path)
    if root.is_file():
        return sha256_file(root)
    if not root.is_dir():
        raise MoolaError(f"cannot hash {root}: it does not exist")
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if any(part.startswith(".") and ".tmp-" in part for part in file.relative_to(root).parts):
            continue
        digest.update(rel.encode("utf-8") + b"\0" + sha256_file(file).encode("ascii") + b"\n")
    return digest.hexdigest()


def sha256_array(array: Any) -> str:
    """Return the sha256 of an array's dtype, shape and bytes (C order)."""
    import numpy as np

    arr = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(f"{arr.dtype.str}|{arr.shape}|".encode("ascii"))
    digest.update(arr.tobytes())
    return digest.hexdigest()


def write_torch_file(path: str | os.PathLike, obj: Any) -> None:
    """`torch.save` atomically (temporary file, then rename): checkpoints, encoders, resume states."""
    import torch

    with atomic_file(path, "wb") as handle:
        torch.save(obj, handle)
