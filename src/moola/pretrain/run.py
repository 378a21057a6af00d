"""TS2Vec pretraining as the stage runs it: one leakage-safe encoder per fold, resumable, outputs.

Reads `data/unlabeled_windows/<version>/` memory-mapped and, for each fold of the split, leaves
out every window that meets that fold's val/test time (see `moola.pretrain.exclusions`),
standardises OHLC per channel with statistics of that fold's kept windows (the classifiers'
scheme, fitted on what trains) and trains a TS2Vec encoder seeded for the fold. From the main
process only it writes the encoder file holding every fold's encoder (`moola.artifacts.encoder`),
`plots/pretrain/loss.csv` and `loss.png`, and `metrics/pretrain.json` (deterministic on CPU;
timings are printed, never stored). After every epoch a resumable state (`moola.artifacts.resume`)
is saved; a rerun with the same params and data continues at the fold and epoch reached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import Any

from moola.errors import MoolaError
from moola.pretrain.config import SECTION, PretrainParams

STATE_FORMAT = "moola.ts2vec-state/3"  # 3: one encoder per fold


def fold_seed(seed: int, fold: int) -> int:
    """The seed of fold `fold`'s encoder, derived from base.seed and the fold index."""
    import numpy as np

    return int(np.random.SeedSequence([int(seed), int(fold)]).generate_state(1)[0])


def leakage_exclusion(registry: Any, split_name: str, unlabeled_windows: Any) -> tuple[list, dict[str, Any]]:
    """Per fold, the mask of unlabeled windows to leave out (True) and its `exclusions` record;
    and the split's identity {name, sha256, n_folds}.

    The split is read through the registry, so it is checked against its labeled set (fingerprint,
    disjoint parts, time order) before its val/test rows decide anything.
    """
    from moola.artifacts.common import shown
    from moola.data.splits import parse_embargo
    from moola.io import read_json
    from moola.pretrain.exclusions import fold_exclusions

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
    split, _, split_sha256 = registry.read_split(split_name, labeled)
    embargo = parse_embargo(split["embargo"], f"split file {shown(split_file)}: embargo")
    identity = {"name": split["name"], "sha256": split_sha256, "n_folds": len(split["folds"])}
    return fold_exclusions(split, labeled.windows, unlabeled_windows, embargo), identity


@dataclasses.dataclass
class FoldInputs:
    """What one fold's encoder trains on: the kept rows, their scaler, the exclusions record."""

    kept_rows: Any  # (K,) int64 rows outside the fold's protected span
    scaler: Any  # ChannelScaler fitted on the kept rows
    exclusions: dict[str, Any]  # the fold's exclusions record


@dataclasses.dataclass
class PretrainInputs:
    """What training reads, checked: the memory-mapped windows and, per fold, what is kept of them."""

    ohlc: Any  # (N, T, C) float32 memory map
    folds: list[FoldInputs]  # one per fold of the split, in fold order
    unlabeled: dict[str, Any]  # {version, fingerprint}
    split: dict[str, Any]  # {name, sha256, n_folds}


def _fold_inputs(ohlc: Any, windows: Any, folder: Path, left_out: Any, exclusions: dict, split_name: str) -> FoldInputs:
    """One fold's kept rows and scaler, with the one-line errors of a fold that cannot train."""
    import numpy as np

    from moola.artifacts import layout
    from moola.artifacts.common import shown
    from moola.pretrain.windows import NonFiniteWindowError, fit_channel_scaler

    kept_rows = np.flatnonzero(~left_out)
    if kept_rows.size < 2:
        raise MoolaError(
            f"only {kept_rows.size} of {len(left_out)} unlabeled windows lie outside the val/test time of fold "
            f"{exclusions['fold']} of split {split_name}: build more unlabeled history (earlier raw bars) or use "
            "another split"
        )
    try:
        scaler = fit_channel_scaler(ohlc, kept_rows, per_window=True)  # the classifiers' view of OHLC
    except NonFiniteWindowError as exc:
        raise MoolaError(
            f"{shown(folder / layout.X_OHLC)}: window {windows['id'].iloc[exc.row]} "
            f"(row {exc.row}) holds NaN or infinite prices: fix the raw data and rebuild the windows"
        ) from None
    return FoldInputs(kept_rows=kept_rows, scaler=scaler, exclusions=exclusions)


def prepare_inputs(params: PretrainParams) -> PretrainInputs:
    """Open the unlabeled windows, apply each fold's leakage exclusion, fit its scaler; check everything."""
    from moola.artifacts.common import shown as relative_to_root
    from moola.data.registry import DataRegistry

    registry = DataRegistry()
    # Memory-mapped: batches are gathered by index, so a corpus larger than RAM trains as is.
    unlabeled = registry.load_unlabeled(params.unlabeled_version, mmap=True)
    ohlc, unlabeled_windows, unlabeled_folder = unlabeled.ohlc, unlabeled.windows, unlabeled.path
    per_fold, split = leakage_exclusion(registry, params.split, unlabeled_windows)
    _n_windows, window_length, _ = ohlc.shape
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
    folds = [
        _fold_inputs(ohlc, unlabeled_windows, unlabeled_folder, left_out, record, params.split)
        for left_out, record in per_fold
    ]
    return PretrainInputs(
        ohlc=ohlc,
        folds=folds,
        unlabeled={"version": unlabeled_folder.name, "fingerprint": unlabeled.meta["fingerprint"]},
        split=split,
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


def _train_fold(
    params: PretrainParams, model: Any, inputs: PretrainInputs, fold: int, resumed: Any, save: Any, say: Any
) -> dict[str, Any]:
    """Train fold `fold`'s encoder `model` (from `resumed`, its saved training state, when given); its file entry."""
    from moola.pretrain.windows import WindowBatches

    mine = inputs.folds[fold]
    if resumed is not None:
        model.load_training_state(resumed)
    batches = WindowBatches(inputs.ohlc, mine.scaler)
    while model.epochs_done_ < params.epochs:
        started = time.perf_counter()
        loss = model.train_epoch(
            batches, rows=mine.kept_rows, max_windows=params.max_windows, log_every=params.log_every_steps, log=say
        )
        save(model.training_state())  # saved before the epoch is reported, so a reported epoch is never lost
        say(
            f"fold {fold}: epoch {model.epochs_done_}/{params.epochs}  loss {loss:.4f}  "
            f"({time.perf_counter() - started:.1f} s)"
        )
    history = [float(v) for v in model.loss_history_]
    say(
        f"pretrain-ts2vec: fold {fold}: {mine.exclusions['n_left_out']} windows left out, {mine.kept_rows.size} kept, "
        f"final loss {history[-1]:.4f} after {model.epochs_done_} epoch(s)"
    )
    return {
        "fold": fold,
        "seed": int(model.seed),
        "state_dict": model.encoder_state_dict(),
        "scaler": mine.scaler.to_dict(),
        "exclusions": mine.exclusions,
        "loss_history": history,
        "windows_per_epoch": model.windows_seen_ // max(model.epochs_done_, 1),
        "steps": model.steps_done_,
    }


def fold_metrics(entries: list[dict[str, Any]], n_windows: int) -> dict[str, Any]:
    """metrics/pretrain.json: each fold's loss and window counts, and their mean (plain numbers)."""
    import numpy as np

    per_fold = {
        f"fold_{e['fold']}": {
            "loss": {"final": round(e["loss_history"][-1], 6), "first_epoch": round(e["loss_history"][0], 6)},
            "windows": {
                "kept": int(e["exclusions"]["n_kept"]),
                "left_out": int(e["exclusions"]["n_left_out"]),
                "per_epoch": int(e["windows_per_epoch"]),
            },
            "epochs": len(e["loss_history"]),
            "steps": int(e["steps"]),
        }
        for e in entries
    }
    finals = np.array([e["loss_history"][-1] for e in entries])
    return {
        **per_fold,
        "mean": {
            "loss": {
                "final": round(float(finals.mean()), 6),
                "final_min": round(float(finals.min()), 6),
                "final_max": round(float(finals.max()), 6),
                "first_epoch": round(float(np.mean([e["loss_history"][0] for e in entries])), 6),
            },
            "windows": {
                "kept": float(np.mean([e["exclusions"]["n_kept"] for e in entries])),
                "left_out": float(np.mean([e["exclusions"]["n_left_out"] for e in entries])),
            },
        },
        "n_folds": len(entries),
        "windows_available": n_windows,
    }


def _write_outputs(
    output: Path,
    entries: list[dict[str, Any]],
    inputs: PretrainInputs,
    encoder_config: Any,
    train_params: dict[str, Any],
    say: Any,
) -> None:
    """The encoder file (every fold's encoder), the loss plot and table, and metrics/pretrain.json."""
    from moola.artifacts import encoder as encoder_artifact
    from moola.artifacts import layout
    from moola.artifacts.common import shown
    from moola.evaluation.plots import loss_csv, loss_png
    from moola.io import write_bytes, write_json, write_text
    from moola.paths import project_root

    root = project_root()
    plots = layout.plots_dir(root, "pretrain")
    histories = {e["fold"]: e["loss_history"] for e in entries}
    write_text(plots / "loss.csv", loss_csv(histories))
    write_bytes(plots / "loss.png", loss_png(histories))
    write_json(layout.metrics_file(root, "pretrain"), fold_metrics(entries, int(inputs.ohlc.shape[0])))
    checkpoint = encoder_artifact.build(
        encoder_config=encoder_config.to_dict(),
        train_params=train_params,
        unlabeled=inputs.unlabeled,
        split={"name": inputs.split["name"], "sha256": inputs.split["sha256"]},
        folds=[{name: e[name] for name in encoder_artifact.FOLD_FIELDS} for e in entries],
    )
    encoder_artifact.write(output, checkpoint)
    say(
        f"pretrain-ts2vec: wrote {shown(output)} ({len(entries)} fold encoder(s)), {shown(plots)}/loss.csv and "
        f"loss.png, {shown(layout.metrics_file(root, 'pretrain'))}"
    )


def train_encoder(
    params: PretrainParams,
    seed: int,
    encoder_config: Any,
    inputs: PretrainInputs,
    context: Any,
    device: Any,
    output: Path,
) -> None:
    """Train every fold's encoder (resuming a matching saved state) and, on the main process, write every output."""
    from moola.artifacts import resume
    from moola.device import describe_device
    from moola.io import dumps_json

    def fold_model(fold: int) -> Any:
        return build_ts2vec(params, fold_seed(seed, fold), encoder_config, device, context)

    first = fold_model(0)  # also says which device and precision every fold trains with
    train_params = {
        **dataclasses.asdict(params),
        "seed": seed,
        "fold_seeds": [fold_seed(seed, fold) for fold in range(len(inputs.folds))],
        "world_size": context.world_size,
        "precision": "bf16-autocast" if first.use_bf16 else "float32",
        "weights": "averaged",  # the saved encoder is the weight-averaged one the paper's protocol encodes with
    }
    identity = {
        "train_params": train_params,
        "encoder_config": encoder_config.to_dict(),
        "unlabeled": inputs.unlabeled,
        "split": inputs.split,
        "folds": [{"exclusions": f.exclusions, "scaler": f.scaler.to_dict()} for f in inputs.folds],
    }
    resume_key = hashlib.sha256(dumps_json(identity).encode("utf-8")).hexdigest()
    state_file = resume.state_file(output)

    def say(text: str) -> None:
        if context.is_main:
            print(text, flush=True)

    device_facts = describe_device(first.device)
    say(
        f"pretrain-ts2vec: {int(inputs.ohlc.shape[0])} unlabeled windows ({params.unlabeled_version}), one encoder "
        f"for each of the {len(inputs.folds)} fold(s) of split {params.split}, each leaving out its fold's val/test "
        f"time; encoder {encoder_config.kind} ({encoder_config.layers} x {encoder_config.hidden}); device "
        f"{device_facts['gpu_name'] or device_facts['type']}, {context.world_size} process(es), "
        f"{train_params['precision']}"
    )
    state = resume.load(state_file, STATE_FORMAT, resume_key, log=say)
    entries = list(state["finished"]) if state is not None else []
    if state is not None:
        say(
            f"pretrain-ts2vec: resuming from {state_file.name} after epoch "
            f"{state['training']['epochs_done']}/{params.epochs} of fold {state['fold']}"
        )
    for fold in range(len(entries), len(inputs.folds)):

        def save(training: dict, fold: int = fold) -> None:
            if context.is_main:
                resume.save(
                    state_file, STATE_FORMAT, resume_key, {"fold": fold, "finished": entries, "training": training}
                )

        resumed = state["training"] if state is not None and state["fold"] == fold else None
        model = first if fold == 0 else fold_model(fold)
        entries.append(_train_fold(params, model, inputs, fold, resumed, save, say))
    if context.is_main:
        _write_outputs(output, entries, inputs, encoder_config, train_params, say)
        resume.discard(state_file)
    context.barrier()
