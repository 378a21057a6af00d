"""Re-verify a run from its manifest alone: hashes, split rules, leakage, and every figure that can be re-derived.

Each check is a `Claim` (what the manifest asserts, whether it holds, and the evidence). The
checks recompute from the files the manifest names; the rules they apply are the artifacts'
own (`moola.artifacts.<kind>.problems`), written once, so the audit, the guards, the catalog
and the registry can never disagree about what a valid split or cache is. What the audit adds
is independence from the run: it re-reads every file from disk, re-hashes it, and re-derives
what the run claimed (KS statistics, content fingerprints, the checkpoint's hash against its
training record, the metrics from the stored predictions) instead of trusting stored figures.
A claim that cannot be re-derived from what a run stored is reported as such (`checked`
False) without failing the run; docs/RELIABILITY.md lists which claims are re-derived.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from moola.errors import MoolaError

# Re-derived floats must equal the stored ones to this absolute tolerance (KS figures are stored
# rounded to 6 digits and recomputed with the same rounding; metrics are recomputed from the same
# probabilities, so only the summation order of a few hundred rows can move their last bits).
TOLERANCE = 1e-9

@dataclass(frozen=True)
class Claim:
    """One audited statement."""

    name: str
    ok: bool
    detail: str
    checked: bool = True  # False: reported, not re-derivable from what the run stored (ok stays True)

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        return f"{mark if self.checked else '–'} {self.name}: {self.detail}"


class NotRederivable(Exception):
    """The run stored nothing to re-derive this claim from; the message says what is missing."""


class AuditFailed(Exception):
    """A claim does not hold; the message is the evidence."""


def _expect(condition: Any, message: str) -> None:
    if not condition:
        raise AuditFailed(message)


def _claim_from(name: str, check: Callable[[], str]) -> Claim:
    """Run `check`; its return is the evidence, an AuditFailed or MoolaError the refutation."""
    try:
        return Claim(name, True, check())
    except NotRederivable as exc:
        return Claim(name, True, f"not re-derivable: {exc}", checked=False)
    except (AuditFailed, MoolaError) as exc:
        return Claim(name, False, str(exc))
    except (ValueError, TypeError, KeyError, IndexError, OSError) as exc:
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
    from moola.artifacts import run_manifest

    root = Path(root)
    _refuse_paths_outside(manifest, root)
    schema = run_manifest.problems(manifest)  # `load_manifest` refuses these; a dict given directly is checked too
    claims = [Claim("manifest schema", not schema, "; ".join(schema[:2]) if schema else "every named file has a sha256")]
    claims += [_check_hash(root, path, entry) for path, entry in sorted(manifest["inputs"].items())]
    paths = manifest["paths"]
    labeled = root / paths["labeled"] if paths.get("labeled") else None
    split_file = root / paths["split"] if paths.get("split") else None
    if labeled is None or split_file is None:
        return claims + [Claim("paths", False, "the manifest names no labeled folder or split file")]
    synthetic = root / paths["synthetic"] if paths.get("synthetic") else None
    context: dict[str, Any] = {}
    claims.append(_claim_from("split loads", lambda: _load_split(labeled, split_file, manifest, context)))
    claims.append(_claim_from("labeled fingerprint re-derived", lambda: _check_labeled_fingerprint(labeled, manifest, context)))
    if "split" in context:
        claims.append(_claim_from("split parts disjoint, complete, purged and embargoed", lambda: _check_split_rules(context)))
        if context.get("disjoint_ok"):
            claims.append(_claim_from("data audit counts", lambda: _check_counts(context, manifest)))
            claims.append(_claim_from("no val/test window equals a train or synthetic window",
                                      lambda: _check_leakage(context, synthetic)))
        if synthetic is not None:
            claims.append(_claim_from("synthetic cache lineage and provenance",
                                      lambda: _check_synthetic_provenance(synthetic, split_file, context)))
            claims.append(_claim_from("synthetic cache KS statistics re-derived",
                                      lambda: _check_synthetic_ks(synthetic, manifest, context)))
            claims.append(_claim_from("synthetic fingerprint re-derived",
                                      lambda: _check_synthetic_fingerprint(synthetic, manifest, context)))
    if manifest.get("pretrained"):
        claims.append(_claim_from("pretrained load figures", lambda: _check_pretrained(root, manifest)))
    if paths.get("checkpoint"):
        claims.append(_claim_from("checkpoint is the one trained", lambda: _check_checkpoint_trained(root, manifest)))
        claims.append(_claim_from("checkpoint lineage", lambda: _check_checkpoint_lineage(root, manifest)))
    if "split" in context:
        claims.append(_claim_from("metrics re-derived from stored predictions",
                                  lambda: _check_metrics(root, manifest, context)))
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
    context.update(labeled=labeled, split=split, windows=windows, ohlc=ohlc, n_rows=len(windows),
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


def _labeled_files(labeled: Path, context: dict) -> dict:
    """The labeled version's meta, arrays and full windows table, read once per audit."""
    if "labeled_files" not in context:
        from moola.artifacts import common, layout
        from moola.io import load_npy, read_json

        context["labeled_files"] = {
            "meta": read_json(labeled / layout.META, "labeled meta.json"),
            "ohlc": load_npy(labeled / layout.X_OHLC, "labeled X_ohlc"),
            "feats": load_npy(labeled / layout.X_FEATS, "labeled X_feats20"),
            "y": load_npy(labeled / layout.Y, "labeled y"),
            "windows": common.read_parquet(labeled / layout.WINDOWS, "labeled windows"),
        }
    _expect(isinstance(context["labeled_files"]["meta"], dict), f"{labeled.name}/meta.json is not a JSON object")
    return context["labeled_files"]


def _synthetic_files(synthetic: Path, context: dict) -> dict:
    """The synthetic cache's meta, arrays and provenance table, read once per audit."""
    if "synthetic_files" not in context:
        from moola.artifacts import common, layout
        from moola.io import load_npy, read_json

        context["synthetic_files"] = {
            "meta": read_json(synthetic / layout.META, "synthetic meta.json"),
            "ohlc": load_npy(synthetic / layout.X_OHLC, "synthetic X_ohlc"),
            "feats": load_npy(synthetic / layout.X_FEATS, "synthetic X_feats20"),
            "y": load_npy(synthetic / layout.Y, "synthetic y"),
            "provenance": common.read_parquet(synthetic / layout.PROVENANCE, "synthetic provenance"),
        }
    _expect(isinstance(context["synthetic_files"]["meta"], dict), f"{synthetic.name}/meta.json is not a JSON object")
    return context["synthetic_files"]


def _same_digest(name: str, recomputed: str, stored: dict[str, Any]) -> str:
    """Require every stored copy of a fingerprint to equal the recomputed one."""
    for where, value in stored.items():
        _expect(value == recomputed, f"recomputed {name} {recomputed[:12]}, {where} says {str(value)[:12]}")
    return f"{recomputed[:12]} = " + " = ".join(stored)


def _check_labeled_fingerprint(labeled: Path, manifest: dict, context: dict) -> str:
    """`window_fingerprint` over the arrays and windows table on disk, against meta.json and the manifest."""
    from moola.data.windows import WindowSet, window_fingerprint

    files = _labeled_files(labeled, context)
    window_set = WindowSet(kind="labeled", ohlc=files["ohlc"], feats=files["feats"], y=files["y"], windows=files["windows"])
    return _same_digest("fingerprint", window_fingerprint(window_set), {
        "meta.json": files["meta"].get("fingerprint"),
        "the manifest": manifest["data"].get("labeled_fingerprint"),
    })


def _check_synthetic_provenance(synthetic: Path, split_file: Path, context: dict) -> str:
    """The cache artifact's own rules (`lineage_problems`, `provenance_problems`) on the files as they are now."""
    from moola.artifacts import synthetic as synthetic_artifact
    from moola.io import sha256_file

    labeled = _labeled_files(Path(context["labeled"]), context)
    files = _synthetic_files(synthetic, context)
    found = synthetic_artifact.lineage_problems(files["meta"], labeled["meta"], context["split"], sha256_file(split_file))
    found += synthetic_artifact.provenance_problems(files["provenance"], files["ohlc"], files["y"], labeled["y"], context["split"])
    _expect(not found, "; ".join(found[:2]))
    return f"{len(files['y'])} rows, each from a train row of {context['split'].get('name')} with its label and content hash"


def _check_synthetic_ks(synthetic: Path, manifest: dict, context: dict) -> str:
    """`synth.ks_report` of the cache's features against its split's real train rows, against meta.json."""
    import numpy as np

    from moola.data.synth import ks_report

    labeled = _labeled_files(Path(context["labeled"]), context)
    files = _synthetic_files(synthetic, context)
    meta = files["meta"]
    names = list(meta.get("feature_names") or labeled["meta"].get("feature_names") or [])
    train_feats = np.asarray(labeled["feats"])[context["rows"]["train"]]  # (n_train, 20)
    _expect(len(names) == train_feats.shape[1] == np.asarray(files["feats"]).shape[1],
            f"{len(names)} feature names for {train_feats.shape[1]} real and {np.asarray(files['feats']).shape[1]} synthetic columns")
    report, pval = ks_report(train_feats, np.asarray(files["feats"]), names)
    stored = meta.get("ks")
    _expect(isinstance(stored, dict) and sorted(stored) == sorted(report),
            f"meta.json ks does not list the {len(names)} features {names[:2]}...")
    for feature, recomputed in report.items():
        for key, value in recomputed.items():
            claimed = stored[feature].get(key) if isinstance(stored[feature], dict) else None
            _expect(_close(claimed, value), f"meta.json ks {feature} {key} is {claimed!r}, recomputed {value!r}")
    for where, claimed in (("meta.json", meta.get("ks_pval")), ("the manifest", manifest["data"].get("ks_pval"))):
        _expect(_close(claimed, pval), f"{where} says ks_pval {claimed!r}, recomputed {pval!r} from the cache and its train rows")
    return f"ks_pval {pval} and {len(report)} per-feature statistics recomputed from {train_feats.shape[0]} train rows, as stored"


def _check_synthetic_fingerprint(synthetic: Path, manifest: dict, context: dict) -> str:
    """`synth.synthetic_fingerprint` over the cache's arrays and provenance, against meta.json and the manifest."""
    from moola.data.synth import SyntheticSet, synthetic_fingerprint

    files = _synthetic_files(synthetic, context)
    rows = SyntheticSet(ohlc=files["ohlc"], feats=files["feats"], y=files["y"], provenance=files["provenance"], stats={})
    return _same_digest("fingerprint", synthetic_fingerprint(rows), {
        "meta.json": files["meta"].get("fingerprint"),
        "the manifest": manifest["data"].get("synthetic_fingerprint"),
    })


def _check_checkpoint_trained(root: Path, manifest: dict) -> str:
    """The checkpoint file hashes to its training record's `checkpoint_sha256` and to the manifest's inputs entry."""
    from moola.artifacts import checkpoint as checkpoint_artifact
    from moola.io import read_json, sha256_file

    relative = manifest["paths"]["checkpoint"]
    file = root / relative
    entry = manifest["inputs"].get(relative)
    _expect(isinstance(entry, dict) and entry.get("sha256"), f"the manifest records no sha256 for its checkpoint {relative}")
    _expect(file.is_file(), f"{relative} is missing")
    record_file = file.with_suffix(".json")  # the training record lies beside its checkpoint (layout.training_record_file)
    _expect(record_file.is_file(), f"its training record {Path(relative).with_suffix('.json').as_posix()} is missing")
    record = read_json(record_file, "training record")
    faults = checkpoint_artifact.record_problems(record)
    if faults:
        raise AuditFailed(f"training record {record_file.name}: {faults[0]}")
    actual = sha256_file(file)
    _expect(actual == record["checkpoint_sha256"],
            f"{relative} is {actual[:12]}, its training record says {record['checkpoint_sha256'][:12]}: it changed after training")
    _expect(actual == entry["sha256"], f"{relative} is {actual[:12]}, the manifest's inputs say {str(entry['sha256'])[:12]}")
    _expect(record.get("run_id") == manifest["run_id"],
            f"its training record is of run {record.get('run_id')}, the manifest of run {manifest['run_id']}")
    return f"{actual[:12]} = training record of run {record['run_id']} = manifest inputs"


def _close(claimed: Any, recomputed: Any) -> bool:
    """Equal numbers (ints exactly, floats within TOLERANCE); bools and non-numbers never pass as numbers."""
    if isinstance(claimed, bool) or not isinstance(claimed, (int, float)):
        return False
    if isinstance(recomputed, int) and not isinstance(recomputed, bool):
        return claimed == recomputed
    return abs(float(claimed) - float(recomputed)) <= TOLERANCE


def _differences(claimed: Any, recomputed: Any, where: str) -> list[str]:
    """Every place where two nested metric blocks differ: keys missing on either side or numbers apart."""
    if isinstance(recomputed, dict):
        if not isinstance(claimed, dict):
            return [f"{where} is {str(claimed)[:30]!r}, recomputed a block"]
        found = [f"{where}.{key} is not in the manifest" for key in sorted(set(recomputed) - set(claimed))]
        found += [f"{where}.{key} is in the manifest but not recomputed" for key in sorted(set(claimed) - set(recomputed))]
        for key in sorted(set(claimed) & set(recomputed)):
            found += _differences(claimed[key], recomputed[key], f"{where}.{key}")
        return found
    if not _close(claimed, recomputed):
        return [f"{where} is {str(claimed)[:30]}, recomputed {recomputed!r}"]
    return []


def _predictions_file(root: Path, manifest: dict) -> tuple[Path, bool]:
    """(where the run's predictions table is, whether the manifest names it itself)."""
    from moola.artifacts import layout

    named = manifest["paths"].get("predictions")
    if named:
        return root / named, True
    return layout.run_dir(root, manifest["run_id"]) / layout.PREDICTIONS, False


def _check_metrics(root: Path, manifest: dict, context: dict) -> str:
    """The whole metrics pack (model, baseline, vs_baseline) recomputed from the stored predictions.

    The predictions table (`artifacts/runs/<run_id>/predictions.parquet`) has one row per scored
    window: `window_id`, `part` (val | test), `y_true`, `proba_<class>` per class, `predicted`.
    Its y_true must be the labeled version's labels of those windows, its windows exactly the
    split's val and test rows, and `predicted` the arg-max of its probabilities.
    """
    import numpy as np

    from moola.artifacts import common
    from moola.evaluation.metrics import evaluation_metrics

    file, named = _predictions_file(root, manifest)
    if not file.is_file():
        _expect(not named, f"the manifest names predictions {manifest['paths'].get('predictions')} but the file is missing")
        raise NotRederivable("no predictions stored (the metrics are only re-read from the manifest)")
    table = common.read_parquet(file, "predictions")
    labeled = _labeled_files(Path(context["labeled"]), context)
    class_names = list(labeled["meta"].get("class_names") or [])
    columns = ["window_id", "part", "y_true", "predicted"] + [f"proba_{name}" for name in class_names]
    missing = [c for c in columns if c not in table.columns]
    _expect(not missing, f"{file.name} lacks column(s) {', '.join(missing)}")
    _expect("fold" not in table.columns or table["fold"].nunique(dropna=True) <= 1,
            f"{file.name} holds several folds: this audit re-derives one val/test evaluation only")
    ids = labeled["windows"]["id"].astype(str).tolist()
    row_of = {window_id: row for row, window_id in enumerate(ids)}
    y = np.asarray(labeled["y"])
    parts = {}
    for part in ("val", "test"):
        rows = table[table["part"] == part]
        stored_ids = rows["window_id"].astype(str).tolist()
        unknown = [w for w in stored_ids if w not in row_of]
        if unknown:
            raise AuditFailed(f"{file.name} {part} names window {unknown[0][:40]!r}, which is not in the labeled version")
        expected_rows = sorted(context["rows"][part].tolist())
        found_rows = sorted(row_of[w] for w in stored_ids)
        _expect(found_rows == expected_rows, f"{file.name} scores {len(found_rows)} {part} windows, the split has {len(expected_rows)} other ones")
        labels = rows["y_true"].to_numpy(dtype=np.int64)
        truth = y[[row_of[w] for w in stored_ids]]
        wrong = np.flatnonzero(labels != truth)
        if wrong.size:
            first = int(wrong[0])
            raise AuditFailed(f"{file.name} {part} window {stored_ids[first]} has y_true {labels[first]}, "
                              f"the labeled version {truth[first]}")
        proba = rows[[f"proba_{name}" for name in class_names]].to_numpy(dtype=np.float64)  # (n_part, K)
        _expect(np.isfinite(proba).all(), f"{file.name} {part} holds probabilities that are NaN or inf")
        _expect(np.array_equal(rows["predicted"].to_numpy(dtype=np.int64), proba.argmax(axis=1)),
                f"{file.name} {part}: `predicted` is not the arg-max of the stored probabilities")
        parts[part] = (labels, proba)
    evaluate = manifest["params"].get("evaluate")
    ece_bins = evaluate.get("ece_bins") if isinstance(evaluate, dict) else None
    _expect(isinstance(ece_bins, int) and not isinstance(ece_bins, bool) and 1 <= ece_bins <= 100,
            f"the manifest's params hold no evaluate.ece_bins in 1..100 (found {str(ece_bins)[:20]})")
    recomputed = evaluation_metrics(parts, train_labels=y[context["rows"]["train"]], class_names=class_names, ece_bins=ece_bins)
    found = _differences(manifest["metrics"], recomputed, "metrics")
    if found:
        raise AuditFailed(found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
    return (f"every number of the metrics pack recomputed from {file.name} "
            f"({len(parts['val'][0])} val, {len(parts['test'][0])} test rows), within {TOLERANCE:g}")
