"""Stage `synth_cache` (`moola synth-cache`): synthetic windows from one split's TRAIN rows only."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from moola.errors import MoolaError
from moola.params import require

# Real train features recomputed from the stored OHLC must agree with the stored ones: per feature,
# the median over rows of |recomputed - stored| / (1 + |stored|) stays below this. float32 inputs
# move the last digits (up to ~1e-4 on a few ill-conditioned rows, skewness of near-constant
# returns); a median above 1e-3 means features.py changed after the labeled version was built,
# and synthetic features would not be comparable to the real ones.
FEATURE_RECOMPUTE_TOLERANCE = 1e-3

_META_FIELDS_NOT_CONTENT = ("files", "code")


@dataclass
class SynthCacheParams:
    """Section `synth_cache:` of params.yaml."""

    split: str = "fwd_chain_v3"  # split whose TRAIN rows are the only parents
    family: str = "temporal"  # augmentation family; names the cache <version>_<family>_q<quality>_r<ratio>
    quality: float = 0.9  # keep candidates within this quantile of real-train feature distances, (0, 1]
    ratio: float = 0.5  # synthetic rows per real train row, (0, 20]
    jitter_sigma: float = 0.03  # temporal jitter, in units of the window's per-bar return std
    magnitude_sigma: float = 0.1  # std of the smooth multiplicative magnitude curve
    time_warp_sigma: float = 0.1  # std of the smooth time-distortion speed curve
    mixup_alpha: float = 0.2  # within-class mixup weight ~ Beta(alpha, alpha)

    def validate(self) -> None:
        from moola.data.synth import FAMILIES

        require(
            self.family in FAMILIES, "synth_cache.family", f"{self.family!r} is unknown: choose {', '.join(FAMILIES)}"
        )
        require(0 < self.quality <= 1, "synth_cache.quality", f"must lie in (0, 1], got {self.quality}")
        require(0 < self.ratio <= 20, "synth_cache.ratio", f"must lie in (0, 20], got {self.ratio}")
        for key in ("jitter_sigma", "magnitude_sigma", "time_warp_sigma"):
            value = getattr(self, key)
            require(0 <= value <= 1, f"synth_cache.{key}", f"must lie in [0, 1], got {value}")
        require(self.mixup_alpha > 0, "synth_cache.mixup_alpha", f"must be > 0, got {self.mixup_alpha}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", help="split name (overrides synth_cache.split)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from moola import io
    from moola.data import synth
    from moola.data.features import FEATURE_NAMES, compute_features
    from moola.data.registry import DataRegistry
    from moola.params import from_mapping, load_base, load_params
    from moola.paths import relative_to_root
    from moola.stages.make_splits import labeled_version

    params = load_params()
    section = dict(params.get("synth_cache") or {})
    if getattr(args, "split", None):
        section["split"] = args.split
    settings = from_mapping(SynthCacheParams, section, "synth_cache")
    base = load_base(params)
    version = labeled_version(params)

    registry = DataRegistry()
    labeled = registry.read_windows(version, "labeled")
    split, _split_path, split_sha256 = registry.read_split(settings.split, labeled)
    train = np.asarray(split["train"], dtype=np.int64)
    train_ohlc, train_feats, train_y = labeled.ohlc[train], labeled.feats[train], labeled.y[train]
    feature_names = list(labeled.meta.get("feature_names") or FEATURE_NAMES)
    _check_same_feature_code(train_ohlc, train_feats, feature_names, compute_features, version)

    augmentation = synth.AugmentationSettings(
        family=settings.family,
        quality=settings.quality,
        ratio=settings.ratio,
        jitter_sigma=settings.jitter_sigma,
        magnitude_sigma=settings.magnitude_sigma,
        time_warp_sigma=settings.time_warp_sigma,
        mixup_alpha=settings.mixup_alpha,
        seed=base.seed,
    )
    generated = synth.generate_synthetic(
        train_ohlc, train_feats, train_y, train, augmentation, feature_names, compute_features
    )
    ks, ks_pval = synth.ks_report(train_feats, generated.feats, feature_names)
    # Name the folder from the numbers as written in params.yaml, as dvc.yaml's ${...} does.
    raw = params.get("synth_cache") or {}
    name = synth.cache_name(
        version, settings.family, raw.get("quality", settings.quality), raw.get("ratio", settings.ratio)
    )
    target = registry.path_of(name, "synthetic")
    shown = relative_to_root(target)

    class_names = list(labeled.meta.get("class_names") or ["down", "neutral", "up"])
    config = {
        **augmentation.to_dict(),
        "methods": list(synth.FAMILIES[settings.family]),
        "quality_rule": synth.QUALITY_RULE,
        "max_rounds": synth.MAX_ROUNDS,
        "labeled_version": version,
        "split_name": split["name"],
        "parents": "train rows of the split only",
    }
    meta = {
        "name": name,
        "labeled_version": version,
        "labeled_fingerprint": labeled.meta["fingerprint"],
        "split_name": split["name"],
        "split_sha256": split_sha256,
        "n": int(generated.y.shape[0]),
        "T": int(generated.ohlc.shape[1]),
        "n_real_train": int(train.size),
        "family": settings.family,
        "ratio": settings.ratio,
        "quality": settings.quality,
        "class_names": class_names,
        "class_counts": {cls: int((generated.y == k).sum()) for k, cls in enumerate(class_names)},
        "feature_names": feature_names,
        **generated.stats,
        "ks": ks,
        "ks_pval": ks_pval,
        "ks_pval_rule": synth.KS_PVAL_RULE,
        "fingerprint": synth.synthetic_fingerprint(generated),
        "code": io.code_version("data.synth", "data.features", "stages.synth_cache"),
    }
    summary = (
        f"{meta['n']} rows from {train.size} train rows of split {split['name']} "
        f"({', '.join(f'{k} {v}' for k, v in generated.stats['method_counts'].items())}); ks_pval {ks_pval}"
    )
    if target.exists():
        existing = io.read_json(target / "meta.json", f"{shown}/meta.json")
        if _content(existing) == _content(meta):
            print(f"synth-cache: {shown} already holds this cache ({summary}); left unchanged")
            return 0
        old = _content(existing) if isinstance(existing, dict) else {}
        changed = sorted(key for key in set(old) | set(_content(meta)) if old.get(key) != meta.get(key))
        raise MoolaError(
            f"synthetic cache {shown} already exists with different content (differs in "
            f"{', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''}): caches are never rewritten; change "
            "synth_cache.quality, ratio or family for a new name, or delete that folder yourself if it must go"
        )
    with io.atomic_directory(target) as folder:
        io.save_npy(folder / "X_ohlc.npy", generated.ohlc)
        io.save_npy(folder / "X_feats20.npy", generated.feats)
        io.save_npy(folder / "y.npy", generated.y)
        io.write_parquet(folder / "provenance.parquet", generated.provenance)
        io.write_json(folder / "augmentation_config.json", config)
        meta["files"] = {path.name: io.sha256_file(path) for path in sorted(folder.iterdir()) if path.is_file()}
        io.write_json(folder / "meta.json", meta)
    print(f"synth-cache: wrote {shown}: {summary}")
    return 0


def _content(meta: Any) -> Any:
    if not isinstance(meta, dict):
        return meta
    return {key: value for key, value in meta.items() if key not in _META_FIELDS_NOT_CONTENT}


def _check_same_feature_code(train_ohlc, train_feats, feature_names, compute_features, version: str) -> None:
    """Refuse when today's feature code no longer reproduces the labeled version's features."""
    import numpy as np

    recomputed = compute_features(*(train_ohlc[..., k].astype(np.float64) for k in range(4)))  # (n, 20)
    columns = [j for j, name in enumerate(feature_names) if not name.startswith("volume")]
    stored = train_feats[:, columns].astype(np.float64)
    relative_gap = np.median(np.abs(recomputed[:, columns] - stored) / (1.0 + np.abs(stored)), axis=0)  # (F,)
    worst = int(np.argmax(relative_gap)) if relative_gap.size else 0
    if relative_gap.size and relative_gap[worst] > FEATURE_RECOMPUTE_TOLERANCE:
        raise MoolaError(
            f"labeled_windows/{version}/X_feats20.npy feature {feature_names[columns[worst]]!r} differs from what "
            f"moola.data.features computes now (median relative gap {relative_gap[worst]:.2g}): the feature code "
            "changed since the version was built; build a new labeled version before making a synthetic cache"
        )
