"""Stage `make_splits` (`moola make-splits`): write data/splits/<name>.json for a labeled version."""

from __future__ import annotations

import argparse

from moola.data.splits import MakeSplitsParams  # noqa: F401 (the section is defined beside its rules)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="split name (overrides make_splits.name), written to data/splits/<name>.json")
    parser.add_argument(
        "--strategy",
        help="forward_chaining | walk_forward | purged_kfold | cpcv | stratified (overrides make_splits.strategy)",
    )


def run(args: argparse.Namespace) -> int:
    from moola.artifacts import split as split_artifact
    from moola.artifacts.common import shown
    from moola.codedeps import code_version
    from moola.data.registry import DataRegistry
    from moola.data.splits import build_split
    from moola.params import from_mapping, labeled_version, load_base, load_params

    params = load_params()
    section = dict(params.get("make_splits") or {})
    for key in ("name", "strategy"):
        if getattr(args, key, None) is not None:
            section[key] = getattr(args, key)
    settings = from_mapping(MakeSplitsParams, section, "make_splits")
    base = load_base(params)
    version = labeled_version(params)

    registry = DataRegistry()
    labeled = registry.read_windows(version, "labeled")
    split = build_split(
        name=settings.name,
        windows=labeled.windows,
        labels=labeled.y,
        labeled_meta=labeled.meta,
        strategy=settings.strategy,
        train_fraction=settings.train_fraction,
        val_fraction=settings.val_fraction,
        purge=settings.purge,
        embargo=settings.embargo,
        seed=base.seed,
        code=code_version("make_splits"),
        n_folds=settings.n_folds,
        window=settings.window,
        n_groups=settings.n_groups,
        n_test_groups=settings.n_test_groups,
    )
    path, unchanged = split_artifact.write(registry.root, split, n_rows=int(labeled.meta["n"]))
    summary = "; ".join(
        f"fold {fold['index']}: train {fold['counts']['train']}, val {fold['counts']['val']}, "
        f"test {fold['counts']['test']}, purged {fold['counts']['purged']}"
        for fold in split["folds"]
    ) + (f"; {split['n_paths']} backtest paths" if split["strategy"] == "cpcv" else "")
    if unchanged:
        print(f"make-splits: {shown(path)} already holds this split ({summary}); left unchanged")
    else:
        print(
            f"make-splits: wrote {shown(path)} from labeled_windows/{version} "
            f"({settings.strategy}, purge {split['purge']}, embargo {settings.embargo}): {summary}"
        )
    print(f"make-splits: {coverage_line(split, int(labeled.meta['n']))}")
    return 0


def coverage_line(split: dict, n_rows: int) -> str:
    """How many labeled windows the folds score out of fold: "tests 109 of 109 labeled windows (100%)"."""
    from moola.artifacts import split as split_artifact

    n_tested = int(split_artifact.out_of_fold_rows(split).size)
    share = 100.0 * n_tested / n_rows if n_rows else 0.0
    return f"tests {n_tested} of {n_rows} labeled windows ({share:.0f}%) out of fold"
