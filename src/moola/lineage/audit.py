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
# Each stored row of probabilities must sum to 1 within this (a float32 softmax over a few classes
# is off by ~1e-7; a table rescaled or shifted by hand is off by far more).
PROBA_TOLERANCE = 1e-6


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


def audit_manifest(manifest: dict, root: str | Path, manifest_file: str | Path | None = None) -> list[Claim]:
    """Check every claim of a manifest against the files under `root`.

    Args:
        manifest: the parsed manifest (`load_manifest`).
        root: the project root the manifest's paths are relative to.
        manifest_file: the file it was read from; its `outputs` (the predictions table) lie
            beside it. None: the run's own folder, artifacts/runs/<run_id>/.

    Returns:
        The claims, in a stable order; any with ok False means the run does not stand.
    """
    from moola.artifacts import layout, run_manifest

    root = Path(root)
    schema = run_manifest.problems(manifest)  # `load_manifest` refuses these; a dict given directly is checked too
    if schema:
        raise MoolaError(
            f"the manifest is not sound: {schema[0]}: give artifacts/runs/<run_id>/manifest.json or rerun `moola "
            "evaluate`"
        )
    run_manifest.refuse_paths_outside(manifest, root, "the manifest")
    beside = Path(manifest_file).parent if manifest_file is not None else layout.run_dir(root, manifest["run_id"])
    claims = [Claim("manifest schema", True, "every named file has a sha256")]
    claims += [_check_hash(root, path, entry) for path, entry in sorted(manifest["inputs"].items())]
    claims += [_check_output(beside, name, digest) for name, digest in sorted(manifest.get("outputs", {}).items())]
    paths = manifest["paths"]
    labeled = root / paths["labeled"] if paths.get("labeled") else None
    split_file = root / paths["split"] if paths.get("split") else None
    if labeled is None or split_file is None:
        return claims + [Claim("paths", False, "the manifest names no labeled folder or split file")]
    synthetic = root / paths["synthetic"] if paths.get("synthetic") else None
    context: dict[str, Any] = {}
    claims.append(_claim_from("split loads", lambda: _load_split(labeled, split_file, manifest, context)))
    claims.append(
        _claim_from("labeled fingerprint re-derived", lambda: _check_labeled_fingerprint(labeled, manifest, context))
    )
    if "split" in context:
        claims.append(
            _claim_from("split parts disjoint, complete, purged and embargoed", lambda: _check_split_rules(context))
        )
        if context.get("disjoint_ok"):
            claims.append(_claim_from("data audit counts", lambda: _check_counts(context, manifest)))
            claims.append(
                _claim_from(
                    "no val/test window equals a train or synthetic window", lambda: _check_leakage(context, synthetic)
                )
            )
        if synthetic is not None:
            claims.append(
                _claim_from(
                    "synthetic cache lineage and provenance",
                    lambda: _check_synthetic_provenance(synthetic, split_file, context),
                )
            )
            claims.append(
                _claim_from(
                    "synthetic cache KS statistics re-derived",
                    lambda: _check_synthetic_ks(synthetic, manifest, context),
                )
            )
            claims.append(
                _claim_from(
                    "synthetic fingerprint re-derived",
                    lambda: _check_synthetic_fingerprint(synthetic, manifest, context),
                )
            )
    if manifest.get("pretrained"):
        claims.append(_claim_from("pretrained load figures", lambda: _check_pretrained(root, manifest)))
    if paths.get("checkpoints"):
        claims.append(
            _claim_from("checkpoints are the ones trained", lambda: _check_checkpoint_trained(root, manifest))
        )
        claims.append(_claim_from("checkpoint lineage", lambda: _check_checkpoint_lineage(root, manifest)))
    if "split" in context:
        claims.append(
            _claim_from(
                "metrics re-derived from stored predictions", lambda: _check_metrics(root, manifest, context, beside)
            )
        )
        claims += _check_metrics_files(root, manifest, context)
    return claims


def _check_output(folder: Path, name: str, digest: str) -> Claim:
    """An output the manifest lists (a table written beside it) is there and is the one it hashed."""
    from moola.artifacts import common
    from moola.io import sha256_file
    from moola.paths import resolve_inside

    file = resolve_inside(folder, name, "output named in the manifest")
    label = f"sha256 {common.shown(file)}"
    if not file.is_file():
        return Claim(label, False, "file is missing, though the manifest lists it among its outputs")
    actual = sha256_file(file)
    if actual != digest:
        return Claim(label, False, f"is {actual[:12]}, manifest says {digest[:12]} (the file changed)")
    return Claim(label, True, actual[:12])


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
    from moola.artifacts import common, layout
    from moola.artifacts import split as split_artifact
    from moola.io import load_npy, read_json

    split = read_json(split_file, "split file")
    windows = common.read_parquet(labeled / layout.WINDOWS, "labeled windows", columns=["start", "t1"])
    ohlc = load_npy(labeled / layout.X_OHLC, "labeled X_ohlc")
    _expect(len(windows) == len(ohlc), f"{layout.WINDOWS} has {len(windows)} rows, {layout.X_OHLC} {len(ohlc)}")
    _expect(
        isinstance(split, dict)
        and all(isinstance(split.get(split_artifact.indices_key(p)), list) for p in split_artifact.ALL_PARTS),
        "split has no index lists",
    )
    context.update(
        labeled=labeled,
        split=split,
        windows=windows,
        ohlc=ohlc,
        n_rows=len(windows),
        rows={part: split_artifact.rows(split, part) for part in split_artifact.ALL_PARTS},
    )
    return f"{split.get('name')} ({split.get('strategy')}, purge {split.get('purge')}, embargo {split.get('embargo')})"


def _check_split_rules(context: dict) -> str:
    """The split artifact's own rules, on the files as they are now: coverage, purge, embargo."""
    from moola.artifacts import split as split_artifact

    found = split_artifact.problems(context["split"], context["n_rows"], windows=context["windows"])
    _expect(not found, "; ".join(found[:3]))
    context["disjoint_ok"] = True
    rows = context["rows"]
    sizes = ", ".join(f"{part} {rows[part].size}" for part in rows)
    return (
        f"{context['n_rows']} rows: {sizes}; no train span within the embargo {context['split'].get('embargo')} of "
        "val/test"
    )


def _check_counts(context: dict, manifest: dict) -> str:
    data = manifest["data"]
    rows = context["rows"]
    claimed = data.get("n_real_train")
    _expect(
        claimed == rows["train"].size, f"manifest says {claimed} real train rows, the split has {rows['train'].size}"
    )
    for part in ("val", "test"):
        _expect(
            data.get(f"{part}_synthetic") == 0, f"manifest says {data.get(f'{part}_synthetic')} synthetic {part} rows"
        )
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
        for row, digest in zip(rows[part].tolist(), window_content_hashes(ohlc[rows[part]]), strict=False):
            _expect(digest not in train_hashes, f"{part} row {row} has the same OHLC content as a train window")
            _expect(digest not in synthetic_hashes, f"{part} row {row} has the same OHLC content as a synthetic window")
    extra = f" + {len(synthetic_hashes)} synthetic" if synthetic_folder is not None else ""
    return f"{rows['val'].size + rows['test'].size} val/test windows checked against {len(train_hashes)} train{extra}"


def _check_pretrained(root: Path, manifest: dict) -> str:
    from moola.artifacts import checkpoint as checkpoint_artifact
    from moola.artifacts import encoder as encoder_artifact
    from moola.lineage.load_report import compare_state_dicts

    claimed = manifest["pretrained"]
    paths = manifest["paths"]
    _expect(paths.get("encoder"), "the manifest names no encoder file")
    _expect(paths.get("checkpoints"), "the manifest names no checkpoints")
    folder, record = _checkpoint_files(root, manifest)
    encoder = encoder_artifact.read(root / paths["encoder"])
    n_folds = record["n_folds"]
    stated_folds = claimed.get("folds")
    _expect(
        isinstance(stated_folds, list)
        and len(stated_folds) == n_folds
        and all(isinstance(f, dict) for f in stated_folds),
        f"the manifest states no pretrained load for each of {n_folds} folds",
    )
    _expect(
        encoder["n_folds"] == n_folds,
        f"the encoder file holds {encoder['n_folds']} fold encoder(s), the run has {n_folds} fold(s)",
    )
    _expect(
        encoder["split"].get("sha256") == manifest["data"].get("split_sha256"),
        f"the encoder file was pretrained for split {encoder['split'].get('name')} with other bytes than the run's "
        "split",
    )
    figures = []
    for fold, stated_load in enumerate(stated_folds):  # fold i's classifier against fold i's encoder
        _expect(
            stated_load.get("fold") == fold,
            f"the manifest's pretrained load {fold} names fold {stated_load.get('fold')!r}",
        )
        checkpoint = checkpoint_artifact.read(folder / f"fold_{fold}.pt")
        report = compare_state_dicts(
            {name: tuple(t.shape) for name, t in checkpoint["state_dict"].items()},
            {name: tuple(t.shape) for name, t in encoder["folds"][fold]["state_dict"].items()},
            prefix=stated_load.get("prefix", "encoder."),
        )
        recomputed = (len(report.matched), report.model_tensors)
        stated = (stated_load.get("matched_count"), stated_load.get("model_tensors"))
        _expect(
            recomputed == stated,
            f"fold {fold}: recomputed matched {recomputed[0]}/{recomputed[1]}, manifest says {stated[0]}/{stated[1]}",
        )
        figures.append(f"{recomputed[0]}/{recomputed[1]}")
    return (
        f"matched {', '.join(figures)} encoder tensors in fold(s) 0..{n_folds - 1}, each from its own fold's "
        "encoder, as stated"
    )


def _check_checkpoint_lineage(root: Path, manifest: dict) -> str:
    from moola.artifacts import checkpoint as checkpoint_artifact

    folder, record = _checkpoint_files(root, manifest)
    checkpoint = checkpoint_artifact.read(folder / f"fold_{record['n_folds'] - 1}.pt")
    data = manifest["data"]
    recorded = checkpoint["data"]
    for key in ("labeled_version", "labeled_fingerprint", "split_name", "split_sha256"):
        _expect(
            recorded.get(key) == data.get(key),
            (f"checkpoint was trained on {key} {recorded.get(key)!r}, manifest says {data.get(key)!r}"),
        )
    _expect(
        checkpoint["model_name"] == manifest["model"]["name"],
        (f"checkpoint holds {checkpoint['model_name']}, manifest says {manifest['model']['name']}"),
    )
    return f"{checkpoint['model_name']} trained on {recorded.get('labeled_version')} / {recorded.get('split_name')}"


def _version_files(folder: Path, context: dict, kind: str, table: tuple[str, str]) -> dict:
    """A window version's (`kind`: labeled or synthetic) meta, arrays and `table`, read once per audit."""
    key = f"{kind}_files"
    if key not in context:
        from moola.artifacts import common, layout
        from moola.io import load_npy, read_json

        name, file_name = table
        context[key] = {
            "meta": read_json(folder / layout.META, f"{kind} meta.json"),
            "ohlc": load_npy(folder / layout.X_OHLC, f"{kind} X_ohlc"),
            "feats": load_npy(folder / layout.X_FEATS, f"{kind} X_feats20"),
            "y": load_npy(folder / layout.Y, f"{kind} y"),
            name: common.read_parquet(folder / file_name, f"{kind} {name}"),
        }
    _expect(isinstance(context[key]["meta"], dict), f"{folder.name}/meta.json is not a JSON object")
    return context[key]


def _labeled_files(labeled: Path, context: dict) -> dict:
    """The labeled version's meta, arrays and full windows table."""
    from moola.artifacts import layout

    return _version_files(labeled, context, "labeled", ("windows", layout.WINDOWS))


def _synthetic_files(synthetic: Path, context: dict) -> dict:
    """The synthetic cache's meta, arrays and provenance table."""
    from moola.artifacts import layout

    return _version_files(synthetic, context, "synthetic", ("provenance", layout.PROVENANCE))


def _same_digest(name: str, recomputed: str, stored: dict[str, Any]) -> str:
    """Require every stored copy of a fingerprint to equal the recomputed one."""
    for where, value in stored.items():
        _expect(value == recomputed, f"recomputed {name} {recomputed[:12]}, {where} says {str(value)[:12]}")
    return f"{recomputed[:12]} = " + " = ".join(stored)


def _check_labeled_fingerprint(labeled: Path, manifest: dict, context: dict) -> str:
    """`window_fingerprint` over the arrays and windows table on disk, against meta.json and the manifest."""
    from moola.data.windows import WindowSet, window_fingerprint

    files = _labeled_files(labeled, context)
    window_set = WindowSet(
        kind="labeled", ohlc=files["ohlc"], feats=files["feats"], y=files["y"], windows=files["windows"]
    )
    return _same_digest(
        "fingerprint",
        window_fingerprint(window_set),
        {
            "meta.json": files["meta"].get("fingerprint"),
            "the manifest": manifest["data"].get("labeled_fingerprint"),
        },
    )


def _check_synthetic_provenance(synthetic: Path, split_file: Path, context: dict) -> str:
    """The cache artifact's own rules (`lineage_problems`, `provenance_problems`) on the files as they are now."""
    from moola.artifacts import synthetic as synthetic_artifact
    from moola.io import sha256_file

    labeled = _labeled_files(Path(context["labeled"]), context)
    files = _synthetic_files(synthetic, context)
    found = synthetic_artifact.lineage_problems(
        files["meta"], labeled["meta"], context["split"], sha256_file(split_file)
    )
    found += synthetic_artifact.provenance_problems(
        files["provenance"], files["ohlc"], files["y"], labeled["y"], context["split"]
    )
    _expect(not found, "; ".join(found[:2]))
    return (
        f"{len(files['y'])} rows, each from a train row of {context['split'].get('name')} with its label and content "
        "hash"
    )


def _check_synthetic_ks(synthetic: Path, manifest: dict, context: dict) -> str:
    """`synth.ks_report` of each fold's synthetic rows against that fold's real train rows, against meta.json."""
    import numpy as np

    from moola.artifacts import split as split_artifact
    from moola.data.synth import combined_ks_pval, ks_report, synthetic_parents

    labeled = _labeled_files(Path(context["labeled"]), context)
    files = _synthetic_files(synthetic, context)
    meta = files["meta"]
    names = list(meta.get("feature_names") or labeled["meta"].get("feature_names") or [])
    split = context["split"]
    records = meta.get("folds")
    _expect(
        isinstance(records, list) and len(records) == split.get("n_folds"),
        f"meta.json lists {len(records) if isinstance(records, list) else 'no'} fold KS reports for "
        f"{split.get('n_folds')} folds",
    )
    provenance = files["provenance"]
    fold_of_row = (
        provenance["fold"].to_numpy(dtype=np.int64)
        if "fold" in provenance.columns
        else np.zeros(len(provenance), dtype=np.int64)
    )
    fold_reports = []
    for fold, stored in enumerate(records):
        train_rows = split_artifact.rows(split, "train", fold)
        train_feats = np.asarray(labeled["feats"])[train_rows]  # (n_train, 20)
        fold_feats = np.asarray(files["feats"])[fold_of_row == fold]
        _expect(
            len(names) == train_feats.shape[1] == fold_feats.shape[1],
            f"{len(names)} feature names for {train_feats.shape[1]} real and {fold_feats.shape[1]} synthetic columns",
        )
        parents = synthetic_parents(provenance[fold_of_row == fold])
        report, pval = ks_report(train_feats, train_rows, fold_feats, parents, names)
        _expect(
            isinstance(stored, dict) and isinstance(stored.get("ks"), dict) and sorted(stored["ks"]) == sorted(report),
            f"meta.json fold {fold} ks does not list the {len(names)} features",
        )
        for feature, recomputed in report.items():
            for key, value in recomputed.items():
                claimed = stored["ks"][feature].get(key) if isinstance(stored["ks"][feature], dict) else None
                _expect(
                    _close(claimed, value),
                    f"meta.json fold {fold} ks {feature} {key} is {claimed!r}, recomputed {value!r}",
                )
        _expect(
            _close(stored.get("ks_pval"), pval),
            f"meta.json fold {fold} ks_pval {stored.get('ks_pval')!r}, recomputed {pval!r}",
        )
        fold_reports.append({"fold": fold, "ks": report})
    top = meta.get("ks")  # the default (last) fold's report, repeated at the top of meta.json
    _expect(isinstance(top, dict) and sorted(top) == sorted(report), "meta.json ks does not list the features")
    for feature, recomputed in report.items():
        for key, value in recomputed.items():
            claimed = top[feature].get(key) if isinstance(top[feature], dict) else None
            _expect(_close(claimed, value), f"meta.json ks {feature} {key} is {claimed!r}, recomputed {value!r}")
    combined = combined_ks_pval(fold_reports)
    for where, claimed in (("meta.json", meta.get("ks_pval")), ("the manifest", manifest["data"].get("ks_pval"))):
        _expect(
            _close(claimed, combined),
            f"{where} says ks_pval {claimed!r}, recomputed {combined!r} from the cache and its train rows",
        )
    return (
        f"ks_pval {combined} (combined over {len(fold_reports)} folds) and every per-feature statistic recomputed, "
        "as stored"
    )


def _check_synthetic_fingerprint(synthetic: Path, manifest: dict, context: dict) -> str:
    """`synth.synthetic_fingerprint` over the cache's arrays and provenance, against meta.json and the manifest."""
    from moola.data.synth import SyntheticSet, synthetic_fingerprint

    files = _synthetic_files(synthetic, context)
    rows = SyntheticSet(
        ohlc=files["ohlc"], feats=files["feats"], y=files["y"], provenance=files["provenance"], stats={}
    )
    return _same_digest(
        "fingerprint",
        synthetic_fingerprint(rows),
        {
            "meta.json": files["meta"].get("fingerprint"),
            "the manifest": manifest["data"].get("synthetic_fingerprint"),
        },
    )


def _checkpoint_files(root: Path, manifest: dict) -> tuple[Path, dict]:
    """(the run's checkpoint folder, its training record), the record's structure checked."""
    from moola.artifacts import checkpoint as checkpoint_artifact
    from moola.artifacts import layout
    from moola.io import read_json

    folder = root / manifest["paths"]["checkpoints"]
    record_file = folder / layout.training_record_file(root, "x").name
    _expect(
        record_file.is_file(), f"its training record {manifest['paths']['checkpoints']}/{record_file.name} is missing"
    )
    record = read_json(record_file, "training record")
    faults = checkpoint_artifact.record_problems(record)
    if faults:
        raise AuditFailed(f"training record {record_file.name}: {faults[0]}")
    return folder, record


def _check_checkpoint_trained(root: Path, manifest: dict) -> str:
    """Every fold's checkpoint hashes to its training record's sha256 and to the manifest's inputs entry."""
    from moola.io import sha256_file

    folder, record = _checkpoint_files(root, manifest)
    _expect(
        record.get("run_id") == manifest["run_id"],
        f"its training record is of run {record.get('run_id')}, the manifest of run {manifest['run_id']}",
    )
    expected = {f"fold_{fold}.pt" for fold in range(record["n_folds"])}
    _expect(
        set(record["checkpoint_sha256"]) == expected,
        f"the training record does not list one checkpoint per fold ({sorted(expected)})",
    )
    for name, sha256 in sorted(record["checkpoint_sha256"].items()):
        relative = f"{manifest['paths']['checkpoints']}/{name}"
        entry = manifest["inputs"].get(relative)
        _expect(
            isinstance(entry, dict) and entry.get("sha256"),
            f"the manifest records no sha256 for its checkpoint {relative}",
        )
        _expect((folder / name).is_file(), f"{relative} is missing")
        actual = sha256_file(folder / name)
        _expect(
            actual == sha256,
            f"{relative} is {actual[:12]}, its training record says {str(sha256)[:12]}: it changed after training",
        )
        _expect(
            actual == entry["sha256"],
            f"{relative} is {actual[:12]}, the manifest's inputs say {str(entry['sha256'])[:12]}",
        )
    return f"{len(expected)} checkpoint(s) = training record of run {record['run_id']} = manifest inputs"


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
        found += [
            f"{where}.{key} is in the manifest but not recomputed" for key in sorted(set(claimed) - set(recomputed))
        ]
        for key in sorted(set(claimed) & set(recomputed)):
            found += _differences(claimed[key], recomputed[key], f"{where}.{key}")
        return found
    if not _close(claimed, recomputed):
        return [f"{where} is {str(claimed)[:30]}, recomputed {recomputed!r}"]
    return []


def _predictions_file(root: Path, manifest: dict, beside: Path) -> tuple[Path, str | None]:
    """(where the run's predictions table is, the sha256 the manifest holds for it, None: it lists none).

    The table is the one the manifest lists among its `outputs`, beside the manifest file given
    (or one it names under `paths.predictions`, hashed among its inputs)."""
    from moola.artifacts import layout

    named = manifest["paths"].get("predictions")
    if named:
        return root / named, manifest["inputs"][named]["sha256"]
    return beside / layout.PREDICTIONS, manifest.get("outputs", {}).get(layout.PREDICTIONS)


def _check_rows(oof: Any, rows: Any, split: dict, where: str) -> None:
    """The table scores exactly the split's tested rows: fold ids in range, each fold's test rows once, no other."""
    import numpy as np

    from moola.artifacts import split as split_artifact

    n_folds = int(split["n_folds"])
    outside = sorted(set(oof.fold.tolist()) - set(range(n_folds)))
    _expect(not outside, f"{where} scores fold {outside[0] if outside else ''}, the split has folds 0..{n_folds - 1}")
    for fold in range(n_folds):
        scored = sorted(rows[oof.fold == fold].tolist())
        expected = sorted(split_artifact.tested_rows(split, fold).tolist())
        _expect(
            scored == expected,
            f"{where} scores other windows for fold {fold} than the split's test rows "
            f"({len(scored)} scored, {len(expected)} tested)",
        )
    low, sums = float(np.min(oof.proba, initial=0.0)), oof.proba.sum(axis=1)
    _expect(
        low >= 0.0 and float(np.max(oof.proba, initial=0.0)) <= 1.0,
        f"{where} holds probabilities outside [0, 1] (lowest {low:.3g}): it is not a model's output",
    )
    worst = int(np.argmax(np.abs(sums - 1.0))) if sums.size else 0
    _expect(
        not sums.size or abs(float(sums[worst]) - 1.0) <= PROBA_TOLERANCE,
        f"{where} row {worst} sums to {float(sums[worst]) if sums.size else 0:.6g}, not 1 within {PROBA_TOLERANCE:g}",
    )


def _check_metrics(root: Path, manifest: dict, context: dict, beside: Path) -> str:
    """The metrics, intervals, tests and verdicts recomputed from the stored out-of-fold table.

    The table (`predictions.parquet` beside the manifest, `moola.evaluation.significance.OutOfFold`)
    has one row per out-of-fold test window: `window_id`, `fold`, `y_true`, `proba_<class>`,
    `predicted`. It must be the file the manifest hashed; its windows exactly each fold's tested
    rows (`_check_rows`), its rows probabilities and its y_true the labeled version's labels; the
    baselines are refitted on each fold's real train rows, and the whole pack is recomputed by
    the function `moola evaluate` used (`evaluation.report.out_of_fold_report`).
    """
    import numpy as np

    from moola.artifacts import common
    from moola.artifacts.windows import class_names_of
    from moola.evaluation.significance import OutOfFold
    from moola.io import sha256_file

    file, claimed_sha = _predictions_file(root, manifest, beside)
    if claimed_sha is None:
        raise NotRederivable("the manifest lists no predictions table (the metrics are only re-read from the manifest)")
    _expect(file.is_file(), f"the manifest lists predictions {common.shown(file)} but the file is missing")
    _expect(claimed_sha == sha256_file(file), f"{file.name} does not match its sha256 in the manifest")
    labeled = _labeled_files(Path(context["labeled"]), context)
    class_names = class_names_of(labeled["meta"], common.shown(Path(context["labeled"])))
    oof = OutOfFold.from_frame(common.read_parquet(file, "predictions"), class_names, where=file.name)
    ids = labeled["windows"]["id"].astype(str).tolist()
    row_of = {window_id: row for row, window_id in enumerate(ids)}
    unknown = [w for w in oof.window_id if w not in row_of]
    _expect(
        not unknown,
        f"{file.name} names window {str(unknown[0])[:40]!r}, which is not in the labeled version" if unknown else "",
    )
    rows = np.asarray([row_of[w] for w in oof.window_id], dtype=np.int64)
    y = np.asarray(labeled["y"])
    wrong = np.flatnonzero(oof.y_true != y[rows])
    _expect(
        not wrong.size,
        f"{file.name} window {oof.window_id[wrong[0]]} has y_true {oof.y_true[wrong[0]]}, the labeled version "
        f"{y[rows[wrong[0]]]}"
        if wrong.size
        else "",
    )
    _check_rows(oof, rows, context["split"], file.name)
    numbers, pack = _recomputed_report(manifest, oof, rows, labeled, context["split"])
    claimed = {key: manifest["metrics"].get(key) for key in numbers}
    claimed["test"] = {key: manifest["metrics"]["test"].get(key) for key in numbers["test"]}
    found = _differences(claimed, numbers, "metrics")
    if found:
        raise AuditFailed(found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
    stated = (manifest.get("verdicts") or {}).get("text")
    _expect(stated == pack["verdict"], f"the manifest's verdicts {stated} are not the recomputed {pack['verdict']}")
    stated_skill = (manifest.get("verdicts") or {}).get("skill")
    _expect(
        stated_skill == pack["skill"],
        f"the manifest's skill line {stated_skill!r} is not the recomputed {pack['skill']!r}",
    )
    ablations = _check_ablations(
        file.parent, manifest, oof, class_names, _evaluate_settings(manifest), manifest["seed"]
    )
    context["metrics_rederived"] = True
    return (
        f"metrics, 95% intervals, paired tests, no-skill test, detectable effects and verdicts recomputed from "
        f"{file.name} ({oof.n} out-of-fold windows, baselines refitted per fold): {pack['skill']}; "
        f"{'; '.join(pack['verdict'].values())}{ablations}"
    )


def _check_ablations(folder: Path, manifest: dict, oof: Any, class_names: list, settings: dict, seed: int) -> str:
    """The ablation block and sentences recomputed from the stored ablation tables (`evaluation.ablation`)."""
    from moola.artifacts import common, layout
    from moola.evaluation.ablation import ablation_report, requested_reasons
    from moola.evaluation.significance import OutOfFold
    from moola.io import sha256_file

    recorded = (manifest.get("training") or {}).get("ablations") or {}
    reasons = requested_reasons(recorded, list(settings["ablations"]), manifest["run_id"])
    tables = {}
    for ablation in [a for a, reason in reasons.items() if reason is None]:
        file = folder / layout.ablation_predictions(ablation)
        _expect(file.is_file(), f"{file.name} is missing: the {ablation} ablation cannot be re-derived")
        _expect(
            (manifest.get("outputs") or {}).get(file.name) == sha256_file(file),
            f"{file.name} does not match its sha256 in the manifest",
        )
        tables[ablation] = OutOfFold.from_frame(common.read_parquet(file, "predictions"), class_names, where=file.name)
    numbers, sentences = ablation_report(
        oof,
        tables,
        reasons,
        alpha=settings["alpha"],
        n_resamples=settings["n_resamples"],
        seed=seed,
        ece_bins=settings["ece_bins"],
    )
    found = _differences(manifest["metrics"].get("ablation") or {}, numbers, "metrics.ablation")
    if found:
        raise AuditFailed(found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
    stated = (manifest.get("verdicts") or {}).get("ablation") or {}
    _expect(stated == sentences, f"the manifest's ablation verdicts {stated} are not the recomputed {sentences}")
    return "".join(f"; {sentence}" for sentence in sentences.values())


def _evaluate_settings(manifest: dict) -> dict:
    """The run's evaluate section, through the stage's own bounds; the manifest's seed must be an integer."""
    from moola.evaluation.config import EvaluateParams
    from moola.params import from_mapping

    stored = manifest["params"].get("evaluate")
    _expect(isinstance(stored, dict), "the manifest's params hold no evaluate section")
    seed = manifest.get("seed")
    _expect(isinstance(seed, int) and not isinstance(seed, bool), "the manifest holds no integer seed")
    return vars(from_mapping(EvaluateParams, stored, "the manifest's params evaluate"))


def _recomputed_report(manifest: dict, oof: Any, rows: Any, labeled: dict, split: dict) -> tuple[dict, dict]:
    """`out_of_fold_report` of the table, with the baselines refitted on each fold's train rows
    and the test block's per-class figures (`metrics_pack`) as `moola evaluate` adds them."""
    import numpy as np

    from moola.artifacts import split as split_artifact
    from moola.evaluation.metrics import metrics_pack
    from moola.evaluation.report import out_of_fold_report
    from moola.evaluation.significance import logistic_baseline_proba, majority_baseline_proba

    settings = _evaluate_settings(manifest)
    seed = manifest["seed"]
    y, feats, k = np.asarray(labeled["y"]), np.asarray(labeled["feats"]), len(oof.class_names)
    majority, logistic = np.zeros(oof.proba.shape), np.zeros(oof.proba.shape)
    for fold in range(int(split["n_folds"])):
        mine = oof.fold == fold
        train = split_artifact.rows(split, "train", fold)
        majority[mine] = majority_baseline_proba(y[train], int(mine.sum()), k)
        logistic[mine] = logistic_baseline_proba(
            feats[train], y[train], feats[rows[mine]], k, C=settings["logistic_C"], seed=seed
        )
    numbers, pack = out_of_fold_report(
        oof,
        {"majority": majority, "logistic": logistic},
        alpha=settings["alpha"],
        collapse_threshold=settings["collapse_threshold"],
        n_resamples=settings["n_resamples"],
        seed=seed,
        ece_bins=settings["ece_bins"],
    )
    per_class = metrics_pack(oof.y_true, oof.proba, list(oof.class_names), settings["ece_bins"])
    numbers["test"].update({key: per_class[key] for key in ("f1", "average_precision") if key in per_class})
    return numbers, pack


def _check_metrics_files(root: Path, manifest: dict, context: dict) -> list[Claim]:
    """The DVC metrics files of the run (when it is the latest run, whose files they are): each
    the figures the run recorded, which the claims above re-derived or hash-checked."""
    from moola.artifacts import layout
    from moola.io import read_json

    latest = layout.latest_run_dir(root) / layout.MANIFEST
    try:
        latest_id = read_json(latest, "latest manifest").get("run_id") if latest.is_file() else None
    except (MoolaError, AttributeError):
        latest_id = None
    claims = []
    for stage, derive in (("eval", _eval_metrics), ("train", _train_metrics)):
        name = f"metrics/{stage}.json re-derived"
        file = layout.metrics_file(root, stage)
        if latest_id != manifest["run_id"]:
            claims.append(
                Claim(
                    name,
                    True,
                    f"not re-derivable: it belongs to the latest run {latest_id}, not this one",
                    checked=False,
                )
            )
            continue
        claims.append(
            _claim_from(name, lambda file=file, derive=derive: _same_metrics(file, derive(root, manifest, context)))
        )
    return claims


def _same_metrics(file: Path, expected: tuple[dict, str]) -> str:
    from moola.artifacts import common
    from moola.io import read_json

    figures, source = expected
    _expect(file.is_file(), f"{common.shown(file)} is missing")
    stored = read_json(file, common.shown(file))
    if stored != figures:
        found = (
            _differences(stored, figures, file.stem)
            if isinstance(stored, dict)
            else [f"{file.name} is not a JSON object"]
        )
        raise AuditFailed((found[0] if found else f"{file.name} differs from {source}") + f" ({source})")
    return f"equal to {source}"


def _eval_metrics(root: Path, manifest: dict, context: dict) -> tuple[dict, str]:
    """metrics/eval.json is the manifest's metrics block (whose figures `_check_metrics` re-derives)."""
    source = (
        "the manifest's metrics, re-derived above" if context.get("metrics_rederived") else "the manifest's metrics"
    )
    return manifest["metrics"], source


def _train_metrics(root: Path, manifest: dict, context: dict) -> tuple[dict, str]:
    """metrics/train.json rebuilt from the training record's per-fold metrics (the record is hash-checked)."""
    from moola.artifacts.checkpoint import train_metrics

    _folder, record = _checkpoint_files(root, manifest)
    folds = record.get("folds")
    _expect(
        isinstance(folds, list) and all(isinstance(f, dict) and isinstance(f.get("metrics"), dict) for f in folds),
        "the training record lists no per-fold metrics",
    )
    return train_metrics([fold["metrics"] for fold in folds]), "the training record's per-fold metrics"
