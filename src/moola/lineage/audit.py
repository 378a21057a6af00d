"""Re-verify a run from its manifest alone: hashes, split integrity, leakage, pretrained figures.

Each check is a `Claim` (what the manifest asserts, whether it holds, and the evidence). The
checks recompute from the files the manifest names; the rules they apply are the artifacts'
own (`moola.artifacts.<kind>.problems`), written once, so the audit, the guards, the catalog
and the registry can never disagree about what a valid split or cache is. What the audit adds
is independence from the run: it re-reads every file from disk, re-hashes it, and re-derives
what the run claimed instead of trusting the manifest's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from moola.errors import MoolaError



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
    """Read a manifest, refusing files that are not sound moola manifests (`moola.artifacts.run_manifest`)."""
    from moola.artifacts import run_manifest

    return run_manifest.read(path)


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
        claims.append(_claim_from("split parts disjoint, complete, purged and embargoed", lambda: _check_split_rules(context)))
        if context.get("disjoint_ok"):
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
    from moola.artifacts import common, layout, split as split_artifact
    from moola.io import load_npy, read_json

    split = read_json(split_file, "split file")
    windows = common.read_parquet(labeled / layout.WINDOWS, "labeled windows", columns=["start", "t1"])
    ohlc = load_npy(labeled / layout.X_OHLC, "labeled X_ohlc")
    _expect(len(windows) == len(ohlc), f"{layout.WINDOWS} has {len(windows)} rows, {layout.X_OHLC} {len(ohlc)}")
    _expect(isinstance(split, dict) and all(isinstance(split.get(split_artifact.indices_key(p)), list)
                                            for p in split_artifact.ALL_PARTS), "split has no index lists")
    context.update(split=split, windows=windows, ohlc=ohlc, n_rows=len(windows),
                   rows={part: split_artifact.rows(split, part) for part in split_artifact.ALL_PARTS})
    return f"{split.get('name')} ({split.get('strategy')}, purge {split.get('purge')}, embargo {split.get('embargo')})"


def _check_split_rules(context: dict) -> str:
    """The split artifact's own rules, on the files as they are now: coverage, purge, embargo."""
    from moola.artifacts import split as split_artifact

    found = split_artifact.problems(context["split"], context["n_rows"], windows=context["windows"])
    _expect(not found, "; ".join(found[:3]))
    context["disjoint_ok"] = True
    rows = context["rows"]
    sizes = ", ".join(f"{part} {rows[part].size}" for part in rows)
    return f"{context['n_rows']} rows: {sizes}; no train span within the embargo {context['split'].get('embargo')} of val/test"


def _check_counts(context: dict, manifest: dict) -> str:
    data = manifest["data"]
    rows = context["rows"]
    claimed = data.get("n_real_train")
    _expect(claimed == rows["train"].size, f"manifest says {claimed} real train rows, the split has {rows['train'].size}")
    for part in ("val", "test"):
        _expect(data.get(f"{part}_synthetic") == 0, f"manifest says {data.get(f'{part}_synthetic')} synthetic {part} rows")
    return f"{claimed} real train rows; val/test synthetic 0"


def _check_leakage(context: dict, synthetic_folder: Path | None) -> str:
    from moola.artifacts import layout
    from moola.artifacts.synthetic import window_content_hashes
    from moola.io import load_npy

    ohlc, rows = context["ohlc"], context["rows"]
    train_hashes = set(window_content_hashes(ohlc[rows["train"]]))
    synthetic_hashes: set[str] = set()
    if synthetic_folder is not None:
        synthetic_hashes = set(window_content_hashes(load_npy(synthetic_folder / layout.X_OHLC, "synthetic X_ohlc")))
    for part in ("val", "test"):
        for row, digest in zip(rows[part].tolist(), window_content_hashes(ohlc[rows[part]])):
            _expect(digest not in train_hashes, f"{part} row {row} has the same OHLC content as a train window")
            _expect(digest not in synthetic_hashes, f"{part} row {row} has the same OHLC content as a synthetic window")
    extra = f" + {len(synthetic_hashes)} synthetic" if synthetic_folder is not None else ""
    return f"{rows['val'].size + rows['test'].size} val/test windows checked against {len(train_hashes)} train{extra}"


def _check_pretrained(root: Path, manifest: dict) -> str:
    from moola.artifacts import checkpoint as checkpoint_artifact, encoder as encoder_artifact
    from moola.lineage.load_report import compare_state_dicts

    claimed = manifest["pretrained"]
    paths = manifest["paths"]
    _expect(paths.get("encoder") and paths.get("checkpoint"), "the manifest names no encoder or checkpoint file")
    encoder = encoder_artifact.read(root / paths["encoder"])
    checkpoint = checkpoint_artifact.read(root / paths["checkpoint"])
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
    from moola.artifacts import checkpoint as checkpoint_artifact

    checkpoint = checkpoint_artifact.read(root / manifest["paths"]["checkpoint"])
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
