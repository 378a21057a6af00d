"""Stage `check_params` (`moola check-params`): every section of params.yaml checked, first.

DVC deletes a stage's outputs before it runs the stage's command. A refusal inside `moola
train` (say `dvc exp run -S train.epochs=-3`) would then come after the checkpoint, the
training record, metrics/train.json and plots/train were already gone. This stage runs before
every other one (each depends on its output) and reads all of params.yaml with the same section
loaders the stages use, so a bad value stops `dvc repro` and `dvc exp run` here, before DVC
touches any other stage's outputs. Its own output is a constant file kept with `persist: true`:
it never changes, so passing this stage never makes another stage out of date.
"""

from __future__ import annotations

import argparse

FORMAT = "moola.params-check/1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options: it checks params.yaml as DVC will run the stages with it


def check(params: dict) -> list[str]:
    """Check every section of `params` (a MoolaError on the first bad value); the sections checked."""
    from moola.data.features import check_window
    from moola.data.splits import MakeSplitsParams
    from moola.data.synth import SynthCacheParams
    from moola.evaluation.config import EvaluateParams
    from moola.models.base import resolve_encoder_config
    from moola.models.registry import ModelRegistry
    from moola.params import (
        BUILD_WINDOWS,
        BuildWindowsParams,
        from_mapping,
        labeled_version,
        load_base,
        load_pod,
        load_section,
    )
    from moola.pretrain.config import PretrainParams
    from moola.training.config import TrainParams

    refuse_unknown_sections(params)
    base = load_base(params)
    build = load_section(BuildWindowsParams, BUILD_WINDOWS, params)
    check_window(build.window)
    refuse_version_rewrite(build, base.seed)
    labeled_version(params)
    from_mapping(MakeSplitsParams, params.get("make_splits"), "make_splits")
    from_mapping(SynthCacheParams, params.get("synth_cache"), "synth_cache")
    load_section(PretrainParams, "pretrain_ts2vec", params)
    resolve_encoder_config(params.get("encoder"))
    from_mapping(TrainParams, params.get("train"), "train")
    selected = ModelRegistry.name_from_params(params)
    for name in ModelRegistry.names():  # the selected model and any other section `-S model=` may pick
        if name == selected or params.get(name) is not None:
            ModelRegistry.config(name, params.get(name))
    load_section(EvaluateParams, "evaluate", params)
    load_pod(params)
    return [
        "base",
        BUILD_WINDOWS,
        "make_splits",
        "synth_cache",
        "pretrain_ts2vec",
        "encoder",
        "train",
        f"model ({selected})",
        "evaluate",
        "pod",
    ]


SECTIONS = (
    "base",
    "build_windows",
    "make_splits",
    "synth_cache",
    "pretrain_ts2vec",
    "encoder",
    "model",
    "train",
    "evaluate",
    "pod",
)  # and one section per model (`ModelRegistry.names()`)


def refuse_unknown_sections(params: dict) -> None:
    """A misspelled section (`trian:`) would leave its stage on defaults: refuse it, with the likely name."""
    import difflib

    from moola.errors import MoolaError
    from moola.models.registry import ModelRegistry

    known = [*SECTIONS, *ModelRegistry.names()]
    for name in params:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise MoolaError(
                f"params.yaml: unknown section {str(name)[:40]!r}: {hint}rename or remove it "
                f"(known sections are {', '.join(known)})"
            )


def refuse_version_rewrite(build, seed: int) -> None:
    """`build_windows.version` names a version built with other params: refused now, before DVC
    deletes any output, by the rule every versioned artifact keeps (`artifacts.common.refuse_rewrite`)."""
    import dataclasses
    import json

    from moola.artifacts import common, layout
    from moola.artifacts.windows import content_params, next_free_version, stored_params
    from moola.errors import MoolaError
    from moola.params import BUILD_WINDOWS
    from moola.paths import data_root

    defaults = {BUILD_WINDOWS: json.loads(json.dumps(dataclasses.asdict(type(build)())))}
    bump = f"set {BUILD_WINDOWS}.version to a new name (e.g. {next_free_version(data_root(), build.version)})"
    now = content_params(json.loads(json.dumps({BUILD_WINDOWS: dataclasses.asdict(build), "base": {"seed": seed}})))
    for kind in layout.WINDOW_DIRS:
        target = layout.window_dir(data_root(), kind, build.version)
        try:
            stored = stored_params(target, defaults) if target.exists() else None
        except (MoolaError, AttributeError, KeyError, TypeError):
            continue  # no params to compare: build_windows's own rule refuses the folder when it runs
        common.refuse_rewrite(
            target,
            now,
            lambda _target, stored=stored: stored,
            what=f"{kind} window version built with other params",
            bump=bump,
        )


def run(args: argparse.Namespace) -> int:
    from moola import io
    from moola.artifacts import layout
    from moola.params import load_params
    from moola.paths import project_root

    del args
    checked = check(load_params())
    output = layout.params_check_file(project_root())
    text = io.dumps_json({"format": FORMAT, "meaning": "params.yaml passed `moola check-params` before any stage ran"})
    if not output.is_file() or output.read_bytes() != text.encode("utf-8"):
        io.write_text(output, text)
    print(f"check-params: params.yaml is sound ({', '.join(checked)})", flush=True)
    return 0
