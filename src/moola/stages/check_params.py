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
    from moola.params import BUILD_WINDOWS, BuildWindowsParams, from_mapping, labeled_version, load_base, load_pod
    from moola.params import load_section
    from moola.pretrain.config import PretrainParams
    from moola.training.config import TrainParams

    load_base(params)
    check_window(load_section(BuildWindowsParams, BUILD_WINDOWS, params).window)
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
    return ["base", BUILD_WINDOWS, "make_splits", "synth_cache", "pretrain_ts2vec", "encoder", "train",
            f"model ({selected})", "evaluate", "pod"]


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
