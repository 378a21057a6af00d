"""Guards: the single place the trainer calls before training starts; each refusal is one line.

The DataRegistry already validates much of this while loading. The guards check again, on the
objects the trainer is about to use, so they hold for data built by hand or loaded some other way:
a guard that trusts its caller proves nothing.

Every guard raises `GuardRefused` (a MoolaError: one line, exit code 1) naming what was wrong,
where, and what to do. `check_before_training` runs them all and returns the claims that held,
for the status report. To add a guard: write a `require_...` function here that raises
`GuardRefused`, call it from `check_before_training`, and add a test with a crafted bad input
in tests/lineage/test_guards.py (see CONTRIBUTING.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from moola.errors import MoolaError


class GuardRefused(MoolaError):
    """A guard refused the run before anything was trained or written."""


def require_sound_split(split: Mapping[str, Any], labeled_meta: Mapping[str, Any], windows: Any, source: str) -> None:
    """Refuse a split that is random, made for other data, or breaks purge or embargo.

    The rules are the split artifact's own (`moola.artifacts.split.problems`), run again on the
    objects the trainer is about to use.
    """
    from moola.artifacts import split as split_artifact

    try:
        split_artifact.refuse_unknown_strategy(split.get("strategy"), f"split {source}")
    except MoolaError as exc:
        raise GuardRefused(f"{exc}; make a purged_kfold or walk_forward split with `moola make-splits`") from None
    found = split_artifact.problems(
        dict(split),
        int(labeled_meta.get("n", 0)),
        fingerprint=labeled_meta.get("fingerprint"),
        version=labeled_meta.get("version"),
        windows=windows,
    )
    if found:
        raise GuardRefused(
            f"split {source} does not fit labeled {labeled_meta.get('version')}: {found[0]}; "
            "make a split of this labeled version with `moola make-splits`"
        )


def require_cache_of_split(
    synthetic_meta: Mapping[str, Any],
    labeled_meta: Mapping[str, Any],
    split: Mapping[str, Any],
    split_sha256: str | None,
    source: str,
) -> None:
    """Refuse a synthetic cache built from another labeled version, fingerprint or split."""
    from moola.artifacts.synthetic import lineage_problems

    found = lineage_problems(dict(synthetic_meta), dict(labeled_meta), dict(split), split_sha256)
    if found:
        raise GuardRefused(
            f"synthetic cache {source}: {found[0]}: its parents may be val/test rows of this split; "
            "rebuild it with `moola synth-cache`"
        )


def require_cache_quality(synthetic_meta: Mapping[str, Any], min_ks_pval: float, source: str) -> None:
    """Refuse a synthetic cache whose combined KS p-value (`synth.combined_ks_pval`) is below `min_ks_pval`.

    The one check of a cache's quality: synth_cache runs it before it writes, train again before it
    trains. The refusal names the (fold, feature, p) tests that Simes' step-up rejects.
    """
    from moola.data.synth import simes_rejected

    value = synthetic_meta.get("ks_pval")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GuardRefused(
            f"synthetic cache {source} has no numeric ks_pval in meta.json: rebuild it with `moola synth-cache`"
        )
    if not value >= min_ks_pval:  # also refuses NaN
        folds = synthetic_meta.get("folds")
        worst = simes_rejected(folds, min_ks_pval) if isinstance(folds, list) else []
        named = ", ".join(f"fold {fold} {feature} p={p:.3g}" for fold, feature, p in worst[:6])
        more = f" and {len(worst) - 6} more" if len(worst) > 6 else ""
        raise GuardRefused(
            f"synthetic cache {source} has combined KS p {value:.4g} < train.min_ks_pval {min_ks_pval}"
            f"{' (' + named + more + ')' if named else ''}: its windows do not look like the real train windows; "
            "raise synth_cache.quality, lower synth_cache.jitter_sigma, magnitude_sigma or time_warp_sigma, "
            "or set train.augment: false"
        )


def _synthetic_hashes_from_provenance(synthetic_folder: Path | None) -> set[str]:
    if synthetic_folder is None:
        return set()
    from moola.artifacts import common, layout

    provenance = Path(synthetic_folder) / layout.PROVENANCE
    if not provenance.is_file():
        raise GuardRefused(
            f"synthetic cache {synthetic_folder.name} has no {layout.PROVENANCE}: rebuild it with `moola synth-cache`"
        )
    frame = common.read_parquet(provenance, common.shown(provenance), columns=["content_sha256"])
    return set(frame["content_sha256"].astype(str))


def require_no_synthetic_in_eval(data: Any) -> None:
    """Refuse val/test rows that are synthetic, by provenance flags and by content hash.

    Also refuses synthetic train rows whose parent is not a real train row.

    Args:
        data: a LabeledData (train/val/test parts with ohlc, index, parent, is_synthetic, ids;
            `paths["synthetic"]`: the cache folder or None).
    """
    import numpy as np

    train = data.train
    synthetic_rows = np.asarray(train.is_synthetic, dtype=bool)
    real_train_index = set(np.asarray(train.index)[~synthetic_rows].tolist())
    bad_parents = sorted(set(np.asarray(train.parent)[synthetic_rows].tolist()) - real_train_index)
    if bad_parents:
        raise GuardRefused(
            f"synthetic train rows come from labeled row {bad_parents[0]}, which is not a train row of this split "
            f"({len(bad_parents)} such parents): rebuild the synthetic cache from this split's train rows"
        )
    from moola.artifacts.synthetic import window_content_hashes

    synthetic_hashes = set(window_content_hashes(np.asarray(train.ohlc)[synthetic_rows]))
    paths = getattr(data, "paths", None) or {}
    synthetic_hashes |= _synthetic_hashes_from_provenance(Path(paths["synthetic"]) if paths.get("synthetic") else None)
    for part_name in ("val", "test"):
        part = getattr(data, part_name)
        flags = np.asarray(part.is_synthetic, dtype=bool)
        index = np.asarray(part.index)
        if flags.any() or (index < 0).any():
            row = int(np.flatnonzero(flags | (index < 0))[0])
            raise GuardRefused(
                f"{part_name} row {row} ({_row_id(part, row)}) is synthetic by provenance: val and test must hold "
                "real windows only; load the data without the cache in val/test (DataRegistry) and retrain"
            )
        for row, digest in enumerate(window_content_hashes(part.ohlc)):  # noqa: B007
            if digest in synthetic_hashes:
                raise GuardRefused(
                    f"{part_name} row {row} ({_row_id(part, row)}) has the same OHLC content as a synthetic window "
                    f"(sha256 {digest[:12]}): a synthetic row leaked into {part_name}; rebuild the synthetic cache "
                    "from this split's train rows"
                )


def _row_id(part: Any, row: int) -> str:
    ids = getattr(part, "ids", None)
    return str(ids[row]) if ids is not None and row < len(ids) else f"index {row}"


def require_pretrained_when_needed(model_name: str, pretrain_use: str, encoder_path: str | None) -> None:
    """Refuse a model that needs a pretrained encoder (pretrain_use 'required') when none is given."""
    if pretrain_use == "required" and not encoder_path:
        raise GuardRefused(
            f"model {model_name} needs a pretrained encoder but none is given: run `moola pretrain-ts2vec` and set "
            "train.pretrained_encoder (or --pretrained-encoder), or pick enhanced_simple_lstm"
        )
    if pretrain_use == "required" and not Path(encoder_path).is_file():
        raise GuardRefused(
            f"model {model_name} needs a pretrained encoder but {encoder_path} does not exist: "
            "run `moola pretrain-ts2vec` (or `dvc repro pretrain_ts2vec`) first"
        )


def require_pretrained_match(report: Any, min_fraction: float) -> None:
    """Refuse a pretrained load that filled fewer than `min_fraction` of the model's encoder tensors."""
    if report.match_fraction < min_fraction:
        raise GuardRefused(
            f"pretrained encoder {report.described_source} matched only {len(report.matched)}/{report.model_tensors} "
            "of the "
            f"model's encoder tensors ({report.match_fraction:.0%} < train.min_pretrained_match {min_fraction:.0%}); "
            f"mismatches: {report.mismatch_details()}; pretrain with the same encoder: section as the model"
        )


def require_nonempty_parts(data: Any) -> None:
    """Refuse an empty train or val part: nothing to fit, or no early stopping signal."""
    for part_name in ("train", "val"):
        if len(getattr(data, part_name).y) == 0:
            raise GuardRefused(
                f"the {part_name} part of split {data.split.get('name')!r} is empty: make a split with more "
                f"windows per part (make_splits fractions) or label more windows"
            )


def check_before_training(
    data: Any,
    *,
    model_name: str,
    pretrain_use: str,
    min_ks_pval: float,
    min_pretrained_match: float,
    encoder_path: str | None = None,
    load_report: Any = None,
) -> list[str]:
    """Run every guard; raise GuardRefused on the first failure.

    Args:
        data: the LabeledData about to be trained on.
        model_name: the model's registry name.
        pretrain_use: none | optional | required (from ModelRegistry.spec).
        min_ks_pval: train.min_ks_pval.
        min_pretrained_match: train.min_pretrained_match.
        encoder_path: the pretrained encoder file, or None.
        load_report: the LoadReport of the pretrained load, or None when nothing was loaded.

    Returns:
        The claims that held, one short line each (for the status report).
    """
    split = data.split
    split_source = str(split.get("name"))
    claims = []
    require_sound_split(split, data.meta, getattr(data, "windows", None), split_source)
    claims.append(f"split strategy {split.get('strategy')} (not random)")
    claims.append(f"split {split_source} belongs to labeled {data.meta.get('version')}, purge and embargo hold")
    require_nonempty_parts(data)
    if data.synthetic_meta is not None:
        cache_source = str(data.synthetic_meta.get("name"))
        require_cache_of_split(data.synthetic_meta, data.meta, split, _split_sha256(data), cache_source)
        claims.append(f"synthetic cache {cache_source} belongs to split {split_source}")
        require_cache_quality(data.synthetic_meta, min_ks_pval, cache_source)
        claims.append(f"synthetic combined KS p {data.synthetic_meta['ks_pval']:.3g} >= {min_ks_pval}")
    require_no_synthetic_in_eval(data)
    claims.append("val/test hold no synthetic row (provenance and content hash)")
    require_pretrained_when_needed(model_name, pretrain_use, encoder_path)
    if load_report is not None:
        require_pretrained_match(load_report, min_pretrained_match)
        claims.append(f"pretrained match {load_report.match_fraction:.0%} >= {min_pretrained_match:.0%}")
    return claims


def _split_sha256(data: Any) -> str | None:
    audit = getattr(data, "audit", None)
    if isinstance(audit, Mapping) and audit.get("split_sha256"):
        return str(audit["split_sha256"])
    paths = getattr(data, "paths", None) or {}
    if paths.get("split"):
        from moola.io import sha256_file

        return sha256_file(paths["split"])
    return None
