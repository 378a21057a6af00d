"""Stage `synth_cache` (`moola synth-cache`): synthetic windows from one split's TRAIN rows only."""

from __future__ import annotations

import argparse

from moola.data.synth import SynthCacheParams  # noqa: F401 (the section is defined beside its rules)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", help="split name (overrides synth_cache.split)")


def run(args: argparse.Namespace) -> int:
    from moola.artifacts import split as split_artifact
    from moola.artifacts import synthetic as synthetic_artifact
    from moola.artifacts.common import shown
    from moola.data import synth
    from moola.data.features import compute_features
    from moola.data.registry import DataRegistry
    from moola.lineage.guards import require_cache_quality
    from moola.params import from_mapping, labeled_version, load_base, load_params
    from moola.training.config import TrainParams

    params = load_params()
    section = dict(params.get("synth_cache") or {})
    if getattr(args, "split", None):
        section["split"] = args.split
    settings = from_mapping(SynthCacheParams, section, "synth_cache")
    train = from_mapping(TrainParams, params.get("train"), "train")  # its guard threshold, checked once
    base = load_base(params)
    version = labeled_version(params)

    registry = DataRegistry()
    labeled = registry.read_windows(version, "labeled")
    split, _split_path, split_sha256 = registry.read_split(settings.split, labeled)
    fold_train_rows = [split_artifact.rows(split, "train", fold) for fold in range(split["n_folds"])]
    for rows in fold_train_rows:
        synth.check_feature_code(
            labeled.ohlc[rows], labeled.feats[rows], labeled.meta["feature_names"], compute_features, version
        )
    augmentation = settings.augmentation(base.seed)
    generated, fold_records = synth.generate_per_fold(
        labeled.ohlc,
        labeled.feats,
        labeled.y,
        fold_train_rows,
        augmentation,
        labeled.meta["feature_names"],
        compute_features,
    )
    # Name the folder from the numbers as written in params.yaml, as dvc.yaml's ${...} does.
    raw = params.get("synth_cache") or {}
    name = synth.cache_name(
        version, settings.family, raw.get("quality", settings.quality), raw.get("ratio", settings.ratio)
    )
    meta, config = synth.cache_meta(name, generated, augmentation, labeled.meta, split, split_sha256, fold_records)
    if train.augment:  # refuse here, before anything is written, the cache train would refuse
        require_cache_quality(meta, train.min_ks_pval, name)
    folder, unchanged = synthetic_artifact.write(
        registry.root, name, synth.cache_arrays(generated), generated.provenance, config, meta
    )
    summary = (
        f"{meta['n']} rows from the train rows of each of the {split['n_folds']} fold(s) of split {split['name']} "
        f"({', '.join(f'{k} {v}' for k, v in generated.stats['method_counts'].items())}); "
        f"combined KS p {meta['ks_pval']} (per fold {', '.join(str(r['ks_pval']) for r in fold_records)})"
    )
    if unchanged:
        print(f"synth-cache: {shown(folder)} already holds this cache ({summary}); left unchanged")
    else:
        print(f"synth-cache: wrote {shown(folder)}: {summary}")
    return 0
