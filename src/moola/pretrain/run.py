"""TS2Vec pretraining as the stage runs it: leakage-safe inputs, resumable training, outputs.

Reads `data/unlabeled_windows/<version>/` memory-mapped, leaves out every window that meets the
val/test time of the split (see `moola.pretrain.exclusions`), standardises OHLC per channel with
statistics of the kept windows (the classifiers' scheme, fitted on what trains), trains TS2Vec
and writes, from the main process only, the encoder file (`moola.artifacts.encoder`),
`plots/pretrain/loss.csv` and `loss.png`, and `metrics/pretrain.json` (deterministic on CPU;
timings are printed, never stored). After every epoch a resumable state
(`moola.artifacts.resume`) is saved; a rerun with the same params and data continues from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import Any

from moola.errors import MoolaError
from moola.pretrain.config import SECTION, PretrainParams

STATE_FORMAT = "moola.ts2vec-state/2"  # 2: with the weight-averaged encoder


def leakage_exclusion(registry: Any, split_name: str, unlabeled_windows: Any) -> tuple[Any, dict[str, Any]]:
    """Mask of unlabeled windows to leave out (True) and the checkpoint's `exclusions` record.

    The split is read through the registry, so it is checked against its labeled set (fingerprint,
    disjoint parts, time order) before its val/test rows decide anything.
    """
    import numpy as np

    from moola.artifacts import split as split_artifact
    from moola.artifacts.common import shown
    from moola.data.splits import parse_embargo
    from moola.io import read_json
    from moola.pretrain.exclusions import exclusion_record, overlapping_windows, protected_span

    split_file = registry.path_of(split_name, "split")
    if not split_file.is_file():
        raise MoolaError(
            f"split file {shown(split_file)} not found: run `moola make-splits` "
            f"(dvc repro make_splits) or set {SECTION}.split"
        )
    claimed = read_json(split_file, "split file")
    if not isinstance(claimed, dict) or "labeled_version" not in claimed:
        raise MoolaError(f"{shown(split_file)} names no labeled_version: rebuild the split (dvc repro make_splits)")
    labeled = registry.read_windows(claimed["labeled_version"], "labeled", mmap=True)
    split, _, _ = registry.read_split(split_name, labeled)
    embargo = parse_embargo(split["embargo"], f"split file {shown(split_file)}: embargo")
    # Every fold's val and test time is protected: the encoder must not have seen any of it.
    protected_rows = np.unique(np.concatenate(
        [split_artifact.rows(split, part, fold) for fold in range(split["n_folds"]) for part in ("val", "test")]
    ))
    span = protected_span(labeled.windows, protected_rows, embargo)
    left_out = overlapping_windows(unlabeled_windows, span)
    return left_out, exclusion_record(split["name"], span, left_out)


@dataclasses.dataclass
class PretrainInputs:
    """What training reads, checked: the memory-mapped windows and what is kept of them."""

    ohlc: Any  # (N, T, C) float32 memory map
    kept_rows: Any  # (K,) int64 rows outside the protected span
    scaler: Any  # ChannelScaler fitted on the kept rows
    unlabeled: dict[str, Any]  # {version, fingerprint}
    exclusions: dict[str, Any]  # the checkpoint's exclusions record


def prepare_inputs(params: PretrainParams) -> PretrainInputs:
    """Open the unlabeled windows, apply the leakage exclusion, fit the scaler; check everything."""
    import numpy as np

    from moola.data.registry import DataRegistry
    from moola.artifacts import layout
    from moola.artifacts.common import shown as relative_to_root
    from moola.pretrain.windows import NonFiniteWindowError, fit_channel_scaler

    registry = DataRegistry()
    # Memory-mapped: batches are gathered by index, so a corpus larger than RAM trains as is.
    unlabeled = registry.load_unlabeled(params.unlabeled_version, mmap=True)
    ohlc, unlabeled_windows, unlabeled_folder = unlabeled.ohlc, unlabeled.windows, unlabeled.path
    left_out, exclusions = leakage_exclusion(registry, params.split, unlabeled_windows)
    kept_rows = np.flatnonzero(~left_out)
    n_windows, window_length, _ = ohlc.shape
    if kept_rows.size < 2:
        raise MoolaError(
            f"only {kept_rows.size} of {n_windows} unlabeled windows lie outside the val/test time of split "
            f"{params.split}: build more unlabeled history (earlier raw bars) or use another split"
        )
    if params.crop_min > window_length:
        raise MoolaError(
            f"params key {SECTION}.crop_min = {params.crop_min} exceeds the window length {window_length} "
            f"of {relative_to_root(unlabeled_folder)}: set it to at most {window_length}"
        )
    if window_length < 2 ** (params.temporal_unit + 1):
        raise MoolaError(
            f"params key {SECTION}.temporal_unit = {params.temporal_unit} needs windows of at least "
            f"{2 ** (params.temporal_unit + 1)} bars, but they have {window_length}: lower it"
        )
    try:
        scaler = fit_channel_scaler(ohlc, kept_rows, per_window=True)  # the classifiers' view of OHLC
    except NonFiniteWindowError as exc:
        raise MoolaError(
            f"{relative_to_root(unlabeled_folder / layout.X_OHLC)}: window {unlabeled_windows['id'].iloc[exc.row]} "
            f"(row {exc.row}) holds NaN or infinite prices: fix the raw data and rebuild the windows"
        ) from None
    return PretrainInputs(
        ohlc=ohlc,
        kept_rows=kept_rows,
        scaler=scaler,
        unlabeled={"version": unlabeled_folder.name, "fingerprint": unlabeled.meta["fingerprint"]},
        exclusions=exclusions,
    )


def build_ts2vec(params: PretrainParams, seed: int, encoder_config: Any, device: Any, context: Any = None) -> Any:
    """The TS2Vec trainer the `pretrain_ts2vec:` section describes (untrained)."""
    from moola.pretrain.ts2vec import TS2Vec

    return TS2Vec(
        input_dims=encoder_config.input_dim,
        encoder=encoder_config,
        batch_size=params.batch_size,
        lr=params.lr,
        weight_decay=params.weight_decay,
        min_overlap=params.crop_min,
        temporal_unit=params.temporal_unit,
        alpha=params.alpha,
        mask_probability=params.mask_probability,
        device=device,
        bf16=params.bf16,
        seed=seed,
        distributed=context,
    )


def train_encoder(
    params: PretrainParams, seed: int, encoder_config: Any, inputs: PretrainInputs, context: Any, device: Any, output: Path
) -> None:
    """Train (resuming a matching saved state) and, on the main process, write every output."""
    from moola.artifacts import encoder as encoder_artifact, layout, resume
    from moola.artifacts.common import shown
    from moola.device import describe_device
    from moola.evaluation.plots import loss_csv, loss_png
    from moola.io import dumps_json, write_bytes, write_json, write_text
    from moola.paths import project_root
    from moola.pretrain.windows import WindowBatches

    model = build_ts2vec(params, seed, encoder_config, device, context)
    train_params = {
        **dataclasses.asdict(params),
        "seed": seed,
        "world_size": context.world_size,
        "precision": "bf16-autocast" if model.use_bf16 else "float32",
        "weights": "averaged",  # the saved encoder is the weight-averaged one the paper's protocol encodes with
    }
    scaler_record = inputs.scaler.to_dict()
    identity = {
        "train_params": train_params,
        "encoder_config": encoder_config.to_dict(),
        "unlabeled": inputs.unlabeled,
        "exclusions": inputs.exclusions,
        "scaler": scaler_record,
    }
    resume_key = hashlib.sha256(dumps_json(identity).encode("utf-8")).hexdigest()
    state_file = resume.state_file(output)

    def say(text: str) -> None:
        if context.is_main:
            print(text, flush=True)

    n_windows = int(inputs.ohlc.shape[0])
    device_facts = describe_device(model.device)
    say(
        f"pretrain-ts2vec: {n_windows} unlabeled windows ({params.unlabeled_version}), "
        f"{inputs.exclusions['n_left_out']} left out for split {params.split} val/test time, "
        f"{inputs.kept_rows.size} kept; encoder {encoder_config.kind} "
        f"({encoder_config.layers} x {encoder_config.hidden}); device {device_facts['gpu_name'] or device_facts['type']}, "
        f"{context.world_size} process(es), {train_params['precision']}"
    )
    state = resume.load(state_file, STATE_FORMAT, resume_key, log=say)
    if state is not None:
        model.load_training_state(state["training"])
        say(f"pretrain-ts2vec: resuming from {state_file.name} after epoch {model.epochs_done_}/{params.epochs}")

    batches = WindowBatches(inputs.ohlc, inputs.scaler)
    while model.epochs_done_ < params.epochs:
        started = time.perf_counter()
        loss = model.train_epoch(
            batches, rows=inputs.kept_rows, max_windows=params.max_windows, log_every=params.log_every_steps, log=say
        )
        if context.is_main:  # saved before the epoch is reported, so a reported epoch is never lost
            resume.save(state_file, STATE_FORMAT, resume_key, {"training": model.training_state()})
        say(f"epoch {model.epochs_done_}/{params.epochs}  loss {loss:.4f}  ({time.perf_counter() - started:.1f} s)")

    if context.is_main:
        history = model.loss_history_
        metrics = {
            "loss": {"final": round(history[-1], 6), "first_epoch": round(history[0], 6)},
            "windows": {
                "available": n_windows,
                "kept": int(inputs.kept_rows.size),
                "left_out": int(inputs.exclusions["n_left_out"]),
                "per_epoch": model.windows_seen_ // max(model.epochs_done_, 1),
            },
            "epochs": model.epochs_done_,
            "steps": model.steps_done_,
        }
        root = project_root()
        plots = layout.plots_dir(root, "pretrain")
        write_text(plots / "loss.csv", loss_csv(history))
        write_bytes(plots / "loss.png", loss_png(history))
        write_json(layout.metrics_file(root, "pretrain"), metrics)
        checkpoint = encoder_artifact.build(
            state_dict=model.encoder_state_dict(),
            encoder_config=encoder_config.to_dict(),
            train_params=train_params,
            scaler=scaler_record,
            unlabeled=inputs.unlabeled,
            exclusions=inputs.exclusions,
            loss_history=history,
        )
        encoder_artifact.write(output, checkpoint)
        resume.discard(state_file)
        say(f"pretrain-ts2vec: wrote {shown(output)}, {shown(plots)}/loss.csv and loss.png, {shown(layout.metrics_file(root, 'pretrain'))}")
    context.barrier()
