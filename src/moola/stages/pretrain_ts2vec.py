"""Stage 4 `moola pretrain-ts2vec`: one TS2Vec encoder per fold of the split, each leakage-safe.

The work is `moola.pretrain.run` (inputs, per-fold exclusions, resumable training, outputs); this module
reads the params and command line and composes it. Runs as one process or under
`torchrun --nproc_per_node N` (DistributedDataParallel).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from moola.pretrain.config import SECTION, PretrainParams


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--unlabeled",
        metavar="NAME",
        help="unlabeled windows under data/, e.g. unlabeled_windows/v1 (default: pretrain_ts2vec.unlabeled_version)",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="encoder checkpoint, relative to the project (default: pretrain_ts2vec.output)",
    )
    parser.add_argument("--split", metavar="NAME", help="split under data/splits/ (default: pretrain_ts2vec.split)")


def _read_params(args: argparse.Namespace) -> tuple[PretrainParams, Any, Any]:
    """(section with command-line overrides, base section, the EncoderConfig to pretrain)."""
    from moola.data.registry import DataRegistry
    from moola.models.base import resolve_encoder_config
    from moola.models.encoders import EncoderConfig
    from moola.params import load_base, load_params, load_section

    all_params = load_params()
    base = load_base(all_params)
    params = load_section(PretrainParams, SECTION, all_params)
    # The `encoder:` section read exactly as the classifiers read it, so the shapes agree.
    shared_encoder = resolve_encoder_config(all_params.get("encoder"))
    # Overrides are stored as bare names, so `unlabeled_windows/v1` and `v1` give the same record.
    registry = DataRegistry()
    overrides: dict[str, Any] = {}
    if args.unlabeled:
        overrides["unlabeled_version"] = registry.clean_name(args.unlabeled, "unlabeled")
    if args.output:
        overrides["output"] = args.output
    if args.split:
        overrides["split"] = registry.clean_name(args.split, "split")
    params = dataclasses.replace(params, **overrides)
    if params.encoder == "bilstm":
        encoder_config = shared_encoder
    else:
        encoder_config = EncoderConfig(
            kind="dilated_cnn",
            input_dim=shared_encoder.input_dim,
            hidden=params.cnn_hidden,
            layers=params.cnn_blocks,
            dropout=shared_encoder.dropout,
            output_dim=params.cnn_output_dim,
        )
    return params, base, encoder_config


def run(args: argparse.Namespace) -> int:
    from moola.artifacts import layout
    from moola.device import resolve_device, set_threads
    from moola.paths import project_root
    from moola.pretrain import run as run_lib
    from moola.pretrain.distributed import DistributedContext

    params, base, encoder_config = _read_params(args)
    output = layout.require_owned_by(project_root(), params.output, "TS2Vec encoder", f"{SECTION}.output")
    set_threads(base.threads)
    device = resolve_device(base.device, base.require_gpu)
    # Every process reads and checks the same inputs, so a bad input fails on all of them alike,
    # before any of them waits for the others.
    inputs = run_lib.prepare_inputs(params)  # the registry guarantees 4 OHLC channels, as the encoder takes
    context = DistributedContext.from_environment(device.type)
    try:
        run_lib.train_encoder(params, base.seed, encoder_config, inputs, context, device, output)
    finally:
        context.close()
    return 0
