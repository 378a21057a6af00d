"""Re-verify a run from its manifest alone: hashes, split integrity, leakage, pretrained figures.

Each check is a `Claim` (what the manifest asserts, whether it holds, and the evidence). The
checks recompute everything from the files the manifest names; they share no code with the
pipeline steps that produced those files (a check that reuses the code it checks proves
little), only the file readers.

Span rules, with span = [start, t1] of a labeled window (windows.parquet):
- disjoint: every labeled row is in exactly one of train, val, test, purged;
- purge: no train span overlaps a val or test span, and no val span overlaps a test span;
- embargo E: time-ordered splits: every later part starts strictly after the earlier part's
  last t1 + E; other splits: no two spans of different parts come within E of each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from moola.errors import MoolaError

PARTS = ("train", "val", "test")
_PAIR_CHUNK = 2048


@dataclass(frozen=True)
class Claim:
    """One audited statement."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}"


class AuditFailed(Exception):
    """A claim does not hold; the message is the evidence."""


def _expect(condition: Any, message: str) -> None:
    if not condition:
        raise AuditFailed(message)


def _claim_from(name: str, check: Callable[[], str]) -> Claim:
    """Run `check`; its return is the evidence, an AuditFailed or MoolaError the refutation."""
    try:
        return Claim(name, True, check())
    except (AuditFailed, MoolaError) as exc:
        return Claim(name, False, str(exc))
    except (ValueError, TypeError, KeyError, OSError) as exc:
        # A damaged or crafted file refutes the claim; the audit fails closed, never silently.
        return Claim(name, False, f"cannot be checked: {type(exc).__name__}: {exc}")


def load_manifest(path: str | Path) -> dict:
    """Read a manifest, refusing files that are not moola manifests."""
    from moola.io import read_json
    from moola.lineage.manifest import MANIFEST_FORMAT

    manifest = read_json(path, "manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise MoolaError(
            f"{path} is not a moola run manifest (format {manifest.get('format') if isinstance(manifest, dict) else None!r}): "
            "give artifacts/runs/<run_id>/manifest.json"
        )
    for key in ("inputs", "paths", "data"):
        if not isinstance(manifest.get(key), dict):
            raise MoolaError(f"manifest {path} lacks its {key!r} block: it is damaged; rerun `moola evaluate`")
    return manifest


def audit_manifest(manifest: dict, root: str | Path) -> list[Claim]:
    """Check every claim of a manifest against the files under `root`.

    Args:
        manifest: the parsed manifest (`load_manifest`).
        root: the project root the manifest's paths are relative to.

    Returns:
        The claims, in a stable order; any with ok False means the run does not stand.
    """
    root = Path(root)
    _refuse_paths_outside(manifest, root)
    claims = [_check_hash(root, path, entry) for path, entry in sorted(manifest["inputs"].items())]
    paths = manifest["paths"]
    labeled = root / paths["labeled"] if paths.get("labeled") else None
    split_file = root / paths["split"] if paths.get("split") else None
    if labeled is None or split_file is None:
        return claims + [Claim("paths", False, "the manifest names no labeled folder or split file")]
    context: dict[str, Any] = {}
    claims.append(_claim_from("split loads", lambda: _load_split(labeled, split_file, manifest, context)))
    if "split" in context:
        claims.append(_claim_from("split parts disjoint and complete", lambda: _check_disjoint(context)))
        if context.get("disjoint_ok"):
            claims.append(_claim_from("purge: no span of one part overlaps another part", lambda: _check_purge(context)))
            claims.append(_claim_from("embargo", lambda: _check_embargo(context)))
            claims.append(_claim_from("data audit counts", lambda: _check_counts(context, manifest)))
            synthetic = root / paths["synthetic"] if paths.get("synthetic") else None
            claims.append(_claim_from("no val/test window equals a train or synthetic window",
                                      lambda: _check_leakage(context, synthetic)))
    if manifest.get("pretrained"):
        claims.append(_claim_from("pretrained load figures", lambda: _check_pretrained(root, manifest)))
    if paths.get("checkpoint"):
        claims.append(_claim_from("checkpoint lineage", lambda: _check_checkpoint_lineage(root, manifest)))
    return claims


def _refuse_paths_outside(manifest: dict, root: Path) -> None:
    """A manifest may only name files inside the project: an audit never reads or vouches for others."""
    from moola.paths import resolve_inside

    named = list(manifest["inputs"]) + [value for value in manifest["paths"].values() if value]
    for relative in named:
        if not isinstance(relative, str):
            raise MoolaError(f"manifest names a path that is not a string ({relative!r}): it is damaged; rerun `moola evaluate`")
        resolve_inside(root, relative, "path named in the manifest")


def _check_hash(root: Path, relative: str, entry: dict) -> Claim:
    from moola.io import sha256_file

    file = root / relative
    name = f"sha256 {relative}"
    if not file.is_file():
        return Claim(name, False, "file is missing")
    actual = sha256_file(file)
    expected = str(entry.get("sha256"))
    if actual != expected:
        return Claim(name, False, f"is {actual[:12]}, manifest says {expected[:12]} (the file changed)")
    return Claim(name, True, actual[:12])


def _load_split(labeled: Path, split_file: Path, manifest: dict, context: dict) -> str:
    import numpy as np
    import pandas as pd

    from moola.io import load_npy, read_json

    split = read_json(split_file, "split file")
    windows = pd.read_parquet(labeled / "windows.parquet", columns=["start", "t1"])
    ohlc = load_npy(labeled / "X_ohlc.npy", "labeled X_ohlc")
    _expect(len(windows) == len(ohlc), f"windows.parquet has {len(windows)} rows, X_ohlc.npy {len(ohlc)}")
    for part in (*PARTS, "purged"):
        _expect(isinstance(split.get(part), list), f"split has no {part!r} index list")
    context.update(
        split=split,
        n_rows=len(windows),
        starts=_nanoseconds(windows["start"]),
        t1s=_nanoseconds(windows["t1"]),
        ohlc=ohlc,
        rows={part: np.asarray(split[part], dtype=np.int64) for part in (*PARTS, "purged")},
        embargo_ns=int(pd.Timedelta(split.get("embargo") or "0D").value),
    )
    return f"{split.get('name')} ({split.get('strategy')}, purge {split.get('purge')}, embargo {split.get('embargo')})"


def _nanoseconds(values: Any):
    import pandas as pd

    index = pd.DatetimeIndex(values)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit("ns").asi8.copy()


def _check_disjoint(context: dict) -> str:
    import numpy as np

    n_rows, rows = context["n_rows"], context["rows"]
    seen = np.zeros(n_rows, dtype=np.int64)
    for part, indices in rows.items():
        _expect(indices.size == 0 or (indices.min() >= 0 and indices.max() < n_rows), (
            f"{part} holds a row outside 0..{n_rows - 1}"
        ))
        np.add.at(seen, indices, 1)
    if (seen > 1).any():
        raise AuditFailed(f"row {int(np.flatnonzero(seen > 1)[0])} is in more than one part")
    if (seen == 0).any():
        raise AuditFailed(f"row {int(np.flatnonzero(seen == 0)[0])} is in no part")
    context["disjoint_ok"] = True
    sizes = ", ".join(f"{part} {rows[part].size}" for part in rows)
    return f"{n_rows} rows: {sizes}"


def _spans_within(context: dict, part_a: str, part_b: str, gap_ns: int) -> tuple[int, int] | None:
    """First (row_a, row_b) whose spans come within `gap_ns` of each other, else None."""
    import numpy as np

    starts, t1s = context["starts"], context["t1s"]
    rows_a, rows_b = context["rows"][part_a], context["rows"][part_b]
    for offset in range(0, rows_a.size, _PAIR_CHUNK):
        chunk = rows_a[offset : offset + _PAIR_CHUNK]
        # (a, 1) vs (1, b): spans are apart when one starts after the other's end plus the gap.
        apart = (starts[rows_b][None, :] > t1s[chunk][:, None] + gap_ns) | (
            starts[chunk][:, None] > t1s[rows_b][None, :] + gap_ns
        )
        hits = np.argwhere(~apart)
        if hits.size:
            return int(chunk[hits[0][0]]), int(rows_b[hits[0][1]])
    return None


def _check_purge(context: dict) -> str:
    for part_a, part_b in (("train", "val"), ("train", "test"), ("val", "test")):
        hit = _spans_within(context, part_a, part_b, 0)
        if hit is not None:
            raise AuditFailed(f"{part_a} row {hit[0]} overlaps {part_b} row {hit[1]} in time (not purged)")
    return "train, val and test spans are pairwise disjoint in time"


def _check_embargo(context: dict) -> str:
    split, starts, t1s, rows, gap = context["split"], context["starts"], context["t1s"], context["rows"], context["embargo_ns"]
    embargo = split.get("embargo")
    if split.get("time_ordered"):
        for i, earlier in enumerate(PARTS[:-1]):
            if rows[earlier].size == 0:
                continue
            last_t1 = int(t1s[rows[earlier]].max())
            for later in PARTS[i + 1 :]:
                if rows[later].size == 0:
                    continue
                first_start = int(starts[rows[later]].min())
                _expect(first_start > last_t1 + gap, (
                    f"{later} starts {_iso(first_start)}, not after {earlier}'s last t1 {_iso(last_t1)} + {embargo}"
                ))
        return f"each part starts more than {embargo} after the previous part's last t1"
    for part_a, part_b in (("train", "val"), ("train", "test"), ("val", "test")):
        hit = _spans_within(context, part_a, part_b, gap)
        if hit is not None:
            raise AuditFailed(f"{part_a} row {hit[0]} comes within {embargo} of {part_b} row {hit[1]}")
    return f"no spans of different parts within {embargo}"


def _iso(nanoseconds: int) -> str:
    import pandas as pd

    return pd.Timestamp(nanoseconds, unit="ns", tz="UTC").isoformat()


def _check_counts(context: dict, manifest: dict) -> str:
    data = manifest["data"]
    rows = context["rows"]
    claimed = data.get("n_real_train")
    _expect(claimed == rows["train"].size, f"manifest says {claimed} real train rows, the split has {rows['train'].size}")
    for part in ("val", "test"):
        _expect(data.get(f"{part}_synthetic") == 0, f"manifest says {data.get(f'{part}_synthetic')} synthetic {part} rows")
    return f"{claimed} real train rows; val/test synthetic 0"


def _check_leakage(context: dict, synthetic_folder: Path | None) -> str:
    from moola.io import load_npy
    from moola.lineage.guards import window_content_hashes

    ohlc, rows = context["ohlc"], context["rows"]
    train_hashes = set(window_content_hashes(ohlc[rows["train"]]))
    synthetic_hashes: set[str] = set()
    if synthetic_folder is not None:
        synthetic_hashes = set(window_content_hashes(load_npy(synthetic_folder / "X_ohlc.npy", "synthetic X_ohlc")))
    for part in ("val", "test"):
        for row, digest in zip(rows[part].tolist(), window_content_hashes(ohlc[rows[part]])):
            _expect(digest not in train_hashes, f"{part} row {row} has the same OHLC content as a train window")
            _expect(digest not in synthetic_hashes, f"{part} row {row} has the same OHLC content as a synthetic window")
    extra = f" + {len(synthetic_hashes)} synthetic" if synthetic_folder is not None else ""
    return f"{rows['val'].size + rows['test'].size} val/test windows checked against {len(train_hashes)} train{extra}"


def _check_pretrained(root: Path, manifest: dict) -> str:
    from moola.lineage.load_report import compare_state_dicts, read_encoder_checkpoint
    from moola.training.checkpoint import load_checkpoint

    claimed = manifest["pretrained"]
    paths = manifest["paths"]
    _expect(paths.get("encoder") and paths.get("checkpoint"), "the manifest names no encoder or checkpoint file")
    encoder = read_encoder_checkpoint(root / paths["encoder"])
    checkpoint = load_checkpoint(root / paths["checkpoint"])
    report = compare_state_dicts(
        {name: tuple(t.shape) for name, t in checkpoint["state_dict"].items()},
        {name: tuple(t.shape) for name, t in encoder["state_dict"].items()},
        prefix=claimed.get("prefix", "encoder."),
    )
    recomputed = (len(report.matched), report.model_tensors)
    stated = (claimed.get("matched_count"), claimed.get("model_tensors"))
    _expect(recomputed == stated, f"recomputed matched {recomputed[0]}/{recomputed[1]}, manifest says {stated[0]}/{stated[1]}")
    return f"matched {recomputed[0]}/{recomputed[1]} encoder tensors, as stated"


def _check_checkpoint_lineage(root: Path, manifest: dict) -> str:
    from moola.training.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(root / manifest["paths"]["checkpoint"])
    data = manifest["data"]
    recorded = checkpoint["data"]
    for key in ("labeled_version", "labeled_fingerprint", "split_name", "split_sha256"):
        _expect(recorded.get(key) == data.get(key), (
            f"checkpoint was trained on {key} {recorded.get(key)!r}, manifest says {data.get(key)!r}"
        ))
    _expect(checkpoint["model_name"] == manifest["model"]["name"], (
        f"checkpoint holds {checkpoint['model_name']}, manifest says {manifest['model']['name']}"
    ))
    return f"{checkpoint['model_name']} trained on {recorded.get('labeled_version')} / {recorded.get('split_name')}"
