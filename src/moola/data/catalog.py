"""Which data is where: one entry per window version, split and synthetic cache, from their JSON files.

The catalog reads only meta.json, manifest.json and split files (never the arrays), so it answers
at once on any corpus. It flags a split or cache whose labeled fingerprint, split hash or version
no longer matches what is on disk, and says which folders are missing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from moola.artifacts import layout
from moola.io import sha256_file
from moola.paths import relative_to_root

LABELED_DIR = layout.LABELED
UNLABELED_DIR = layout.UNLABELED
SPLITS_DIR = layout.SPLITS
SYNTHETIC_DIR = layout.SYNTHETIC
FOLDER_HINTS = {
    LABELED_DIR: "run moola build-windows (or dvc pull)",
    UNLABELED_DIR: "run moola build-windows (or dvc pull)",
    SPLITS_DIR: "run moola make-splits (or dvc pull)",
    SYNTHETIC_DIR: "run moola synth-cache (or dvc pull)",
}
SHORT = 12  # characters of a fingerprint shown in the table


@dataclass
class CatalogEntry:
    """One row of `moola data`."""

    kind: str  # labeled | unlabeled | split | synthetic
    name: str  # path under data/, e.g. labeled_windows/v1
    version: str | None  # the labeled version it is or belongs to
    shape: str
    classes: str  # counts in class order, e.g. "30/40/35"
    fingerprint: str  # full sha256 (the table shows the first characters)
    built_from: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "ok" if not self.problems else "FLAGGED: " + "; ".join(self.problems)


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"{path.name} missing"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path.name} unreadable ({type(exc).__name__})"


def _counts(class_counts: Any, class_names: Any) -> str:
    if not isinstance(class_counts, dict) or not class_counts:
        return "-"
    names = class_names if isinstance(class_names, list) and class_names else list(class_counts)
    return " ".join(f"{name}:{class_counts.get(name, 0)}" for name in names)  # each version's own classes


def _window_entry(folder: Path, kind: str) -> CatalogEntry:
    meta, error = _read_json(folder / layout.META)
    manifest, _ = _read_json(folder / layout.MANIFEST)
    name = f"{folder.parent.name}/{folder.name}"
    entry = CatalogEntry(
        kind=kind, name=name, version=folder.name, shape="?", classes="-", fingerprint="", built_from="?"
    )
    if not isinstance(meta, dict):
        entry.problems.append(error or "meta.json is not an object")
        return entry
    entry.shape = f"{meta.get('n', '?')}x{meta.get('T', '?')}x{meta.get('D_ohlc', 4)}"
    entry.classes = _counts(meta.get("class_counts"), meta.get("class_names")) if kind == "labeled" else "-"
    entry.fingerprint = str(meta.get("fingerprint") or "")
    sources = manifest.get("sources") if isinstance(manifest, dict) else None
    if isinstance(sources, list) and sources:
        files = [str(s.get("file", "?")) if isinstance(s, dict) else str(s) for s in sources]
        entry.built_from = "raw/" + ", raw/".join(files)
    else:
        entry.built_from = "? (no manifest.json)"
    if meta.get("kind") not in (None, kind):
        entry.problems.append(f"meta.json says kind {meta.get('kind')!r}")
    if meta.get("version") not in (None, folder.name):
        entry.problems.append(f"meta.json says version {meta.get('version')!r} but the folder is {folder.name}")
    if kind == "labeled" and meta.get("label_method"):
        entry.notes.append(f"labels: {meta['label_method']}")
    return entry


def _split_entry(path: Path, labeled_metas: dict[str, dict]) -> CatalogEntry:
    from moola.artifacts.split import problems as split_problems

    split, error = _read_json(path)
    entry = CatalogEntry(
        kind="split",
        name=f"{SPLITS_DIR}/{path.name}",
        version=None,
        shape="?",
        classes="-",
        fingerprint=sha256_file(path),
        built_from="?",
    )
    if not isinstance(split, dict):
        entry.problems.append(error or "not a JSON object")
        return entry
    version = split.get("labeled_version")
    entry.version = version if isinstance(version, str) else None
    counts = split.get("counts") if isinstance(split.get("counts"), dict) else {}
    entry.shape = " / ".join(f"{part} {counts.get(part, '?')}" for part in ("train", "val", "test", "purged"))
    train_counts = (
        (split.get("class_counts") or {}).get("train") if isinstance(split.get("class_counts"), dict) else None
    )
    if isinstance(train_counts, dict):
        entry.classes = "train " + _counts(train_counts, None)
    entry.built_from = f"{LABELED_DIR}/{version} @ {str(split.get('labeled_fingerprint'))[:SHORT]}"
    entry.notes.append(f"{split.get('strategy')}, purge {split.get('purge')}, embargo {split.get('embargo')}")
    meta = labeled_metas.get(version) if isinstance(version, str) else None
    if meta is None:
        entry.problems.append(f"its labeled version {LABELED_DIR}/{version} is missing")
        return entry
    problems = split_problems(split, int(meta.get("n", 0)), fingerprint=meta.get("fingerprint"), version=version)
    entry.problems.extend(problems)
    return entry


def _synthetic_entry(folder: Path, labeled_metas: dict[str, dict], split_hashes: dict[str, str]) -> CatalogEntry:
    meta, error = _read_json(folder / layout.META)
    entry = CatalogEntry(
        kind="synthetic",
        name=f"{SYNTHETIC_DIR}/{folder.name}",
        version=None,
        shape="?",
        classes="-",
        fingerprint="",
        built_from="?",
    )
    if not isinstance(meta, dict):
        entry.problems.append(error or "meta.json is not an object")
        return entry
    version, split_name = meta.get("labeled_version"), meta.get("split_name")
    entry.version = version if isinstance(version, str) else None
    entry.shape = f"{meta.get('n', '?')}x{meta.get('T', '?')}x4"
    entry.classes = _counts(meta.get("class_counts"), meta.get("class_names"))
    entry.fingerprint = str(meta.get("fingerprint") or "")
    entry.built_from = f"{LABELED_DIR}/{version} + {SPLITS_DIR}/{split_name}.json (train rows)"
    entry.notes.append(f"ks_pval {meta.get('ks_pval')}, ratio {meta.get('ratio')}, quality {meta.get('quality')}")
    from moola.artifacts.synthetic import lineage_problems

    labeled_meta = labeled_metas.get(version) if isinstance(version, str) else None
    if labeled_meta is None:
        entry.problems.append(f"its labeled version {LABELED_DIR}/{version} is missing")
    elif split_name not in split_hashes:
        entry.problems.append(f"its split {SPLITS_DIR}/{split_name}.json is missing")
    else:
        split_stub = {"name": split_name}
        entry.problems.extend(lineage_problems(meta, labeled_meta, split_stub, split_hashes[split_name]))
    return entry


def build_catalog(root: Path) -> dict[str, Any]:
    """Describe every version, split and cache under a data root.

    Args:
        root: the data/ folder.

    Returns:
        {"root", "class_names", "missing": [folder notes], "entries": [CatalogEntry as dict]}, entries
        grouped by labeled version: each version, then its splits, then its caches.
    """
    root = Path(root)
    missing = []
    for folder_name in (LABELED_DIR, UNLABELED_DIR, SPLITS_DIR, SYNTHETIC_DIR):
        if not (root / folder_name).is_dir():
            missing.append(f"data/{folder_name}/ is missing: {FOLDER_HINTS[folder_name]}")

    def folders(name: str) -> list[Path]:
        base = root / name
        return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) if base.is_dir() else []

    labeled = [_window_entry(folder, "labeled") for folder in folders(LABELED_DIR)]
    unlabeled = [_window_entry(folder, "unlabeled") for folder in folders(UNLABELED_DIR)]
    labeled_metas = {}
    for folder in folders(LABELED_DIR):
        meta, _ = _read_json(folder / layout.META)
        if isinstance(meta, dict):
            labeled_metas[folder.name] = meta
    split_files = (
        sorted(p for p in (root / SPLITS_DIR).glob("*.json") if not p.name.startswith("."))
        if (root / SPLITS_DIR).is_dir()
        else []
    )
    split_entries = [_split_entry(path, labeled_metas) for path in split_files]
    split_hashes = {path.stem: entry.fingerprint for path, entry in zip(split_files, split_entries, strict=False)}
    caches = [_synthetic_entry(folder, labeled_metas, split_hashes) for folder in folders(SYNTHETIC_DIR)]

    ordered: list[CatalogEntry] = []
    for entry in labeled:
        ordered.append(entry)
        ordered.extend(e for e in split_entries if e.version == entry.version)
        ordered.extend(e for e in caches if e.version == entry.version)
    ordered.extend(unlabeled)
    known = {entry.version for entry in labeled}
    ordered.extend(e for e in split_entries + caches if e.version not in known)
    class_names = next(
        (meta["class_names"] for meta in labeled_metas.values() if isinstance(meta.get("class_names"), list)), []
    )
    return {
        "root": relative_to_root(root),
        "class_names": [str(name) for name in class_names],
        "missing": missing,
        "entries": [asdict(entry) | {"status": entry.status} for entry in ordered],
    }


def format_table(catalog: dict[str, Any]) -> str:
    """Render the catalog as a plain-text table plus notes on missing folders and flags."""
    header = ("KIND", "NAME", "SHAPE", "CLASSES", "FINGERPRINT", "BUILT FROM", "STATUS")
    rows = [
        (
            e["kind"],
            e["name"],
            e["shape"],
            e["classes"],
            e["fingerprint"][:SHORT] or "-",
            e["built_from"],
            e["status"],
        )
        for e in catalog["entries"]
    ]
    lines = [f"data root: {catalog['root']}"]
    if rows:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            lines.append(
                "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False))
                + "  "
                + str(row[-1])
            )
        lines.append("CLASSES: window counts per class, in each version's own class order; SHAPE: N x T x 4.")
        details = [f"  {e['name']}: {'; '.join(e['notes'])}" for e in catalog["entries"] if e["notes"]]
        if details:
            lines.append("details:")
            lines.extend(details)
    else:
        lines.append("no dataset versions, splits or synthetic caches found.")
    for note in catalog["missing"]:
        lines.append(f"note: {note}")
    flagged = [e for e in catalog["entries"] if e["problems"]]
    if flagged:
        lines.append(
            f"{len(flagged)} entr{'y is' if len(flagged) == 1 else 'ies are'} FLAGGED: "
            "rebuild them or bump their names."
        )
    return "\n".join(lines)
