"""The hostile-input corpus: one broken thing per case, made from a copy of a good tiny project.

Each case names the `moola` command it runs, how it breaks the project, and the words the
refusal must contain (the file or key, and the problem). Nothing here is a stored file: every
bad input is generated from the good project, so the corpus stays small and always matches the
current formats.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

RAW = "data/raw/AAA_1d.parquet"
LABELED = "data/labeled_windows/v1"
UNLABELED = "data/unlabeled_windows/v1"
SPLIT = "data/splits/fwd_chain_v3.json"
SYNTHETIC = "data/synthetic_cache/v1_temporal_q0.9_r0.5"
CHECKPOINT = "artifacts/models/enhanced_simple_lstm/fold_0.pt"
RECORD = "artifacts/models/enhanced_simple_lstm/record.json"
ENCODER = "artifacts/ts2vec/encoder_v1.pt"
MANIFEST = "artifacts/runs/latest/manifest.json"
MARKER = "UNPICKLED_CODE_RAN"  # created in the project only if a planted pickle is executed


@dataclass(frozen=True)
class Case:
    """One hostile input.

    Attributes:
        name: the test id.
        argv: `moola` arguments; argv[0] is the command whose error prefix is expected.
        mutate: breaks one thing in the project copy (runs before the snapshot is taken).
        expect: substrings the one-line message must contain (where, and what is wrong).
        known_bug: why the case still fails (it is then an expected failure, strict: once the
            code is fixed the test fails until this is removed).
    """

    name: str
    argv: tuple[str, ...]
    mutate: Callable[[Path], None]
    expect: tuple[str, ...] = field(default_factory=tuple)
    known_bug: str | None = None


# ----- small editing tools ------------------------------------------------------------------------


def edit_params(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        import yaml

        params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
        change(params)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    return mutate


def set_param(section: str, key: str, value) -> Callable[[Path], None]:
    def change(params: dict) -> None:
        params[section][key] = value

    return edit_params(change)


def edit_raw(change: Callable) -> Callable[[Path], None]:
    """Rewrite data/raw/AAA_1d.parquet with `change(frame)` applied."""

    def mutate(root: Path) -> None:
        import pandas as pd

        frame = pd.read_parquet(root / RAW)
        frame = change(frame)
        frame.to_parquet(root / RAW, index=False)

    return mutate


def set_cell(column: str, row: int, value) -> Callable[[Path], None]:
    def change(frame):
        frame.loc[row, column] = value
        return frame

    return edit_raw(change)


def write_raw_bytes(make: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / RAW
        path.write_bytes(make(path.read_bytes()))

    return mutate


def edit_json(relative: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / relative
        document = json.loads(path.read_text(encoding="utf-8"))
        change(document)
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")

    return mutate


def refresh_file_hash(folder: Path, name: str) -> None:
    """Record a rewritten file's new sha256 in its folder's meta.json, so the deeper checks are reached."""
    from reliability_project import sha256_file

    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["files"][name] = sha256_file(folder / name)
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")


def edit_array(relative_folder: str, name: str, change: Callable) -> Callable[[Path], None]:
    """Rewrite one .npy of a version folder and keep meta.json's file hash consistent with it."""

    def mutate(root: Path) -> None:
        import numpy as np

        folder = root / relative_folder
        array = np.load(folder / name, allow_pickle=False)
        np.save(folder / name, change(array), allow_pickle=False)
        refresh_file_hash(folder, name)

    return mutate


def truncate(relative: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / relative
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    return mutate


def flip_last_byte(relative: str) -> Callable[[Path], None]:
    """Change one byte of a file without touching the meta.json that records its hash."""

    def mutate(root: Path) -> None:
        path = root / relative
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))

    return mutate


def write_labels_csv(rows: list[str]) -> Callable[[Path], None]:
    """Switch build_windows to a labels file under data/raw/ holding these CSV rows."""

    def mutate(root: Path) -> None:
        (root / "data" / "raw" / "labels.csv").write_text(
            "symbol,end,label\n" + "\n".join(rows) + "\n", encoding="utf-8"
        )

        def change(params: dict) -> None:
            params["build_windows"].update(labels="file", labels_file="raw/labels.csv")

        edit_params(change)(root)

    return mutate


class RunsCommandWhenUnpickled:
    """An object whose unpickling runs a shell command: what a hostile checkpoint would carry."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def plant_pickled_object(relative: str) -> Callable[[Path], None]:
    """Replace a torch file by one that keeps its keys but also holds a code-running object."""

    def mutate(root: Path) -> None:
        import torch

        path = root / relative
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        checkpoint["model_config"] = RunsCommandWhenUnpickled(f"touch {root / MARKER}")
        torch.save(checkpoint, path)

    return mutate


def edit_checkpoint(relative: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        import torch

        path = root / relative
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        change(checkpoint)
        torch.save(checkpoint, path)

    return mutate


def rehashed(mutation: Callable[[Path], None]) -> Callable[[Path], None]:
    """A checkpoint mutation that also updates the training record's checkpoint_sha256.

    Without it `moola evaluate` refuses at the hash check ("not the checkpoint it trained"); with
    it the crafted checkpoint reaches the structure checks behind.
    """

    def mutate(root: Path) -> None:
        import hashlib

        mutation(root)
        record = json.loads((root / RECORD).read_text(encoding="utf-8"))
        record["checkpoint_sha256"]["fold_0.pt"] = hashlib.sha256((root / CHECKPOINT).read_bytes()).hexdigest()
        (root / RECORD).write_text(json.dumps(record), encoding="utf-8")

    return mutate


def both(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        for mutation in mutations:
            mutation(root)

    return mutate


# ----- case-specific mutations ---------------------------------------------------------------------


def _mixed_time_zones(frame):
    # A parquet timestamp column has one zone, so mixed zones reach a file only as text
    # with different UTC offsets, as a CSV export would leave them.
    import pandas as pd

    text = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00").tolist()
    text[1] = pd.Timestamp(text[1]).tz_convert("America/New_York").isoformat()
    frame["timestamp"] = text
    return frame


def _naive_timestamps(frame):
    frame["timestamp"] = frame["timestamp"].dt.tz_localize(None)
    return frame


def _swap_high_low(frame):
    high, low = frame.at[10, "high"], frame.at[10, "low"]
    frame.at[10, "high"], frame.at[10, "low"] = low, high
    return frame


def _duplicate_timestamp(frame):
    frame.loc[20, "timestamp"] = frame.loc[19, "timestamp"]
    return frame


def _unsorted_timestamps(frame):
    frame.loc[[30, 31], "timestamp"] = frame.loc[[31, 30], "timestamp"].to_numpy()
    return frame


def _bar_time(root: Path, row: int) -> str:
    import pandas as pd

    return pd.read_parquet(root / RAW)["timestamp"].iloc[row].strftime("%Y-%m-%d")


def _labels_not_a_date(root: Path) -> None:
    write_labels_csv([f"AAA_1d,{_bar_time(root, 100)},up", "AAA_1d,1999-02-30T07:13:00Z,down"])(root)


def _labels_unknown_timestamp(root: Path) -> None:
    write_labels_csv([f"AAA_1d,{_bar_time(root, 100)},up", "AAA_1d,2001-04-11T05:00:00Z,down"])(root)


def _labels_unknown_label(root: Path) -> None:
    write_labels_csv([f"AAA_1d,{_bar_time(root, 100)},sideways"])(root)


def _labels_duplicate(root: Path) -> None:
    end = _bar_time(root, 100)
    write_labels_csv([f"AAA_1d,{end},up", f"BBB_1d,{end},down", f"AAA_1d,{end},up"])(root)


def _split_overlap(split: dict) -> None:
    split["train_indices"] = sorted(split["train_indices"] + [split["val_indices"][0]])


def _split_out_of_range(split: dict) -> None:
    split["test_indices"] = split["test_indices"] + [10_000]


def _split_missing_row(split: dict) -> None:
    split["test_indices"] = split["test_indices"][:-1]


def _another_split_name(root: Path) -> None:
    """A second split file with the same rows under another name, selected for training."""
    split = json.loads((root / SPLIT).read_text(encoding="utf-8"))
    split["name"] = "fwd_chain_v4"
    (root / "data" / "splits" / "fwd_chain_v4.json").write_text(json.dumps(split, indent=2), encoding="utf-8")
    set_param("train", "split", "fwd_chain_v4")(root)


def _parent_is_val_row(root: Path) -> None:
    import pandas as pd

    folder = root / SYNTHETIC
    split = json.loads((root / SPLIT).read_text(encoding="utf-8"))
    provenance = pd.read_parquet(folder / "provenance.parquet")
    fold = int(provenance.loc[0, "fold"])  # the fold whose train rows made row 0
    provenance.loc[0, "parent_index"] = split["folds"][fold]["val_indices"][0]
    provenance.to_parquet(folder / "provenance.parquet", index=False)
    refresh_file_hash(folder, "provenance.parquet")


def _outside_file_in_manifest(root: Path) -> None:
    """A manifest that also vouches for a file outside the project (with its true hash)."""
    from reliability_project import sha256_file

    outside = root.parent / "outside_the_project.txt"
    outside.write_text("not part of any moola project\n", encoding="utf-8")
    path = root / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["inputs"]["../outside_the_project.txt"] = {"role": "labeled", "sha256": sha256_file(outside)}
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _not_yaml(root: Path) -> None:
    with open(root / "params.yaml", "a", encoding="utf-8") as handle:
        handle.write("train:\n  epochs: [3\n")


# ----- the corpus -----------------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    # raw OHLC files (build-windows)
    Case("raw_empty", ("build-windows",), write_raw_bytes(lambda data: b""), (RAW, "empty")),
    Case("raw_truncated", ("build-windows",), write_raw_bytes(lambda data: data[: len(data) // 2]), (RAW, "truncated")),
    Case(
        "raw_not_parquet",
        ("build-windows",),
        write_raw_bytes(lambda data: b"timestamp,open\n2001-01-01,1\n"),
        (RAW, "parquet"),
    ),
    Case("raw_missing_column", ("build-windows",), edit_raw(lambda f: f.drop(columns=["low"])), (RAW, "low")),
    Case("raw_nan_price", ("build-windows",), set_cell("close", 100, float("nan")), (RAW, "row 100", "finite")),
    Case("raw_inf_price", ("build-windows",), set_cell("high", 5, float("inf")), (RAW, "row 5", "finite")),
    Case("raw_negative_price", ("build-windows",), set_cell("low", 7, -1.0), (RAW, "row 7", "> 0")),
    Case("raw_zero_price", ("build-windows",), set_cell("open", 3, 0.0), (RAW, "row 3", "> 0")),
    Case("raw_high_below_low", ("build-windows",), edit_raw(_swap_high_low), (RAW, "row 10", "high >= low")),
    Case("raw_duplicate_timestamp", ("build-windows",), edit_raw(_duplicate_timestamp), (RAW, "row 20", "unique")),
    Case("raw_unsorted_timestamps", ("build-windows",), edit_raw(_unsorted_timestamps), (RAW, "row 31", "increasing")),
    Case(
        "raw_mixed_time_zones",
        ("build-windows",),
        edit_raw(_mixed_time_zones),
        (RAW, "timestamp", "time-zone-aware"),
    ),
    Case("raw_naive_timestamps", ("build-windows",), edit_raw(_naive_timestamps), (RAW, "naive")),
    Case("raw_shorter_than_window", ("build-windows",), edit_raw(lambda f: f.iloc[:40]), (RAW, "40 bars", "window")),
    # labels file (build-windows with labels: file)
    Case(
        "labels_timestamp_not_a_date",
        ("build-windows",),
        _labels_not_a_date,
        ("data/raw/labels.csv", "line 3", "not a timestamp"),
    ),
    Case(
        "labels_unknown_timestamp",
        ("build-windows",),
        _labels_unknown_timestamp,
        ("data/raw/labels.csv", "line 3", "not a bar"),
    ),
    Case(
        "labels_unknown_label",
        ("build-windows",),
        _labels_unknown_label,
        ("data/raw/labels.csv", "line 2", "sideways"),
    ),
    Case("labels_duplicate_row", ("build-windows",), _labels_duplicate, ("data/raw/labels.csv", "line 4", "repeats")),
    # params.yaml
    Case("params_not_yaml", ("make-splits",), _not_yaml, ("params.yaml", "YAML")),
    Case("params_check_negative_epochs", ("check-params",), set_param("train", "epochs", -3), ("train.epochs", ">= 1")),
    Case("params_unknown_key", ("build-windows",), set_param("build_windows", "windw", 64), ("build_windows.windw",)),
    Case(
        "params_wrong_type",
        ("build-windows",),
        set_param("build_windows", "window", "sixty-four"),
        ("build_windows.window", "integer"),
    ),
    Case(
        "params_negative_stride",
        ("build-windows",),
        set_param("build_windows", "labeled_stride", -5),
        ("build_windows.labeled_stride",),
    ),
    Case(
        "params_window_below_lookback",
        ("build-windows",),
        lambda root: (set_param("build_windows", "window", 32)(root), set_param("build_windows", "vol_span", 20)(root)),
        ("build_windows.window", "look-back"),
    ),
    Case("params_negative_ratio", ("synth-cache",), set_param("synth_cache", "ratio", -0.5), ("synth_cache.ratio",)),
    Case(
        "params_pretrain_epochs_text",
        ("pretrain-ts2vec",),
        set_param("pretrain_ts2vec", "epochs", "3"),
        ("pretrain_ts2vec.epochs",),
    ),
    Case("params_negative_batch_size", ("train",), set_param("train", "batch_size", -16), ("train.batch_size",)),
    Case("params_zero_ece_bins", ("evaluate",), set_param("evaluate", "ece_bins", 0), ("evaluate.ece_bins",)),
    Case("params_unknown_model", ("train",), edit_params(lambda p: p.update(model="gpt5")), ("gpt5",)),
    Case(
        "params_strategy_random",
        ("make-splits",),
        set_param("make_splits", "strategy", "random"),
        ("make_splits.strategy", "random"),
    ),
    # a version or split that exists is never rewritten with other content
    Case(
        "rewrite_labeled_version",
        ("build-windows",),
        set_param("build_windows", "labeled_stride", 25),
        (LABELED, "already exists"),
    ),
    Case(
        "rewrite_split",
        ("make-splits",),
        set_param("make_splits", "train_fraction", 0.5),
        (SPLIT, "never rewritten"),
    ),
    # split files
    Case("split_overlapping_parts", ("synth-cache",), edit_json(SPLIT, _split_overlap), ("splits/fwd_chain_v3.json",)),
    Case(
        "split_index_out_of_range",
        ("synth-cache",),
        edit_json(SPLIT, _split_out_of_range),
        ("splits/fwd_chain_v3.json", "10000"),
    ),
    Case(
        "split_missing_row",
        ("pretrain-ts2vec",),
        edit_json(SPLIT, _split_missing_row),
        ("splits/fwd_chain_v3.json",),
    ),
    Case(
        "split_wrong_fingerprint",
        ("synth-cache",),
        edit_json(SPLIT, lambda s: s.update(labeled_fingerprint="0" * 64)),
        ("splits/fwd_chain_v3.json", "fingerprint"),
    ),
    Case(
        "split_strategy_random",
        ("train",),
        edit_json(SPLIT, lambda s: s.update(strategy="random", time_ordered=False)),
        ("splits/fwd_chain_v3.json", "random"),
    ),
    # synthetic cache (train)
    Case(
        "synthetic_without_ks_pval",
        ("train",),
        edit_json(f"{SYNTHETIC}/meta.json", lambda m: m.pop("ks_pval")),
        ("v1_temporal_q0.9_r0.5", "ks_pval"),
    ),
    Case("synthetic_from_other_split", ("train",), _another_split_name, ("v1_temporal_q0.9_r0.5", "fwd_chain_v4")),
    Case("synthetic_parent_is_val_row", ("train",), _parent_is_val_row, ("provenance.parquet", "val")),
    # arrays that disagree with meta.json
    Case(
        "labeled_rows_missing",
        ("make-splits",),
        edit_array(LABELED, "X_ohlc.npy", lambda a: a[:-1]),
        ("labeled_windows/v1/X_ohlc.npy", "shape"),
    ),
    Case(
        "unlabeled_channel_missing",
        ("pretrain-ts2vec",),
        edit_array(UNLABELED, "X_ohlc.npy", lambda a: a[..., :3].copy()),
        ("unlabeled_windows/v1/X_ohlc.npy", "shape"),
    ),
    Case(
        "synthetic_feature_rows_missing",
        ("train",),
        edit_array(SYNTHETIC, "X_feats20.npy", lambda a: a[:-2]),
        ("X_feats20.npy", "shape"),
    ),
    Case(
        "labeled_file_tampered",
        ("synth-cache",),
        flip_last_byte(f"{LABELED}/y.npy"),
        ("labeled_windows/v1/y.npy", "sha256"),
    ),
    # checkpoints
    Case(
        "checkpoint_of_other_model",
        ("evaluate",),
        rehashed(edit_checkpoint(CHECKPOINT, lambda c: c.update(model_name="simple_lstm"))),
        ("enhanced_simple_lstm/fold_0.pt", "simple_lstm"),
    ),
    Case(
        "checkpoint_truncated",
        ("evaluate",),
        rehashed(truncate(CHECKPOINT)),
        ("enhanced_simple_lstm/fold_0.pt", "truncated"),
    ),
    Case(
        "checkpoint_with_pickled_object",
        ("evaluate",),
        rehashed(plant_pickled_object(CHECKPOINT)),
        ("enhanced_simple_lstm/fold_0.pt", "weights_only"),
    ),
    Case(
        "checkpoint_one_byte_flipped",
        ("evaluate",),
        flip_last_byte(CHECKPOINT),
        ("enhanced_simple_lstm/fold_0.pt", "is not the checkpoint", "changed after training"),
    ),
    Case(
        "checkpoint_state_dict_is_a_list",
        ("evaluate",),
        rehashed(edit_checkpoint(CHECKPOINT, lambda c: c.update(state_dict=[1, 2, 3]))),
        ("enhanced_simple_lstm/fold_0.pt", "state_dict"),
    ),
    Case(
        "checkpoint_scaler_of_wrong_shape",
        ("evaluate",),
        rehashed(edit_checkpoint(CHECKPOINT, lambda c: c["scaler"].update(ohlc_mean=c["scaler"]["feats_mean"]))),
        ("enhanced_simple_lstm/fold_0.pt", "ohlc_mean"),
    ),
    Case("encoder_truncated", ("train",), truncate(ENCODER), ("encoder_v1.pt", "truncated")),
    Case("encoder_with_pickled_object", ("train",), plant_pickled_object(ENCODER), ("encoder_v1.pt", "weights_only")),
    Case(
        "encoder_is_a_classifier",
        ("train",),
        lambda root: (root / ENCODER).write_bytes((root / CHECKPOINT).read_bytes()),
        ("encoder_v1.pt", "moola.ts2vec/2"),
    ),
    Case(
        "record_of_other_run",
        ("evaluate",),
        edit_json(RECORD, lambda r: r.update(run_id="0123456789abcdef")),
        ("is not fold 0 of run 0123456789abcdef",),
    ),
    # names that try to leave their folder
    Case(
        "raw_file_dotdot",
        ("build-windows",),
        set_param("build_windows", "raw_files", ["../../../../etc/hosts.parquet"]),
        ("'..'",),
    ),
    Case(
        "raw_file_absolute",
        ("build-windows",),
        set_param("build_windows", "raw_files", ["/etc/hosts.parquet"]),
        ("absolute",),
    ),
    Case(
        "labels_file_dotdot",
        ("build-windows",),
        both(
            set_param("build_windows", "labels", "file"), set_param("build_windows", "labels_file", "../../labels.csv")
        ),
        ("build_windows.labels_file", "'..'"),
    ),
    Case("version_option_dotdot", ("build-windows", "--version", "../v2"), lambda root: None, ("--version", "../v2")),
    Case(
        "split_name_dotdot",
        ("make-splits",),
        set_param("make_splits", "name", "../../escape"),
        ("make_splits.name",),
    ),
    Case(
        "split_option_absolute",
        ("synth-cache", "--split", "/srv/splits/fwd_chain_v3.json"),
        lambda root: None,
        ("absolute",),
    ),
    Case("dataset_dotdot", ("train",), set_param("train", "dataset", "../../v1"), ("'..'",)),
    Case("encoder_absolute", ("train",), set_param("train", "pretrained_encoder", "/etc/passwd"), ("absolute",)),
    Case(
        "pretrain_output_dotdot",
        ("pretrain-ts2vec",),
        set_param("pretrain_ts2vec", "output", "../encoder.pt"),
        ("pretrain_ts2vec.output", "outside every artifact folder"),
    ),
    Case(
        "pretrain_output_into_a_labeled_version",
        ("pretrain-ts2vec", "--output", "data/labeled_windows/v1/y.npy"),
        lambda root: None,
        ("labeled window version", "artifacts/ts2vec/"),
    ),
    Case(
        "compare_unknown_runs",
        ("compare", "0000000000000000", "artifacts/runs/latest/manifest.json"),
        lambda root: None,
        ("manifest", "not found"),
    ),
    Case(
        "dvc_yaml_deps_drifted",
        ("deps", "--check"),
        lambda root: (root / "dvc.yaml").write_text(
            (root / "dvc.yaml").read_text(encoding="utf-8").replace("    - src/moola/data/normalise.py\n", "", 1),
            encoding="utf-8",
        ),
        ("dvc.yaml", "normalise.py", "moola deps --write"),
    ),
    Case(
        "unlabeled_option_dotdot",
        ("pretrain-ts2vec", "--unlabeled", "../../elsewhere"),
        lambda root: None,
        ("'..'",),
    ),
    # the other entry points
    Case(
        "audit_manifest_not_json",
        ("audit", MANIFEST),
        lambda root: (root / MANIFEST).write_text("{not json", encoding="utf-8"),
        (MANIFEST, "JSON"),
    ),
    Case(
        "audit_input_changed",
        ("audit", MANIFEST),
        edit_json(SPLIT, lambda s: s.update(created_by="someone else")),
        (MANIFEST, "claims"),
    ),
    Case("audit_manifest_names_outside_file", ("audit", MANIFEST), _outside_file_in_manifest, ("'..'",)),
    Case("models_params_wrong_type", ("models",), set_param("simple_lstm", "hidden", "wide"), ("simple_lstm.hidden",)),
    Case("pod_plan_unknown_stage", ("pod", "plan", "no_such_stage"), lambda root: None, ("no_such_stage", "dvc.yaml")),
)


# ----- cases found by the fuzzers (tests/reliability/test_fuzz_*.py) ---------------------------------


def _params_text(change: Callable[[str], str]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / "params.yaml"
        path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")

    return mutate


def _insert_under(section: str, line: str) -> Callable[[str], str]:
    return lambda text: text.replace(f"{section}:\n", f"{section}:\n{line}\n", 1)


def _deep_manifest(root: Path) -> None:
    path = root / MANIFEST
    text = path.read_text(encoding="utf-8").rstrip()
    path.write_text(text[:-1] + ', "deep": ' + "[" * 100_000 + "1" + "]" * 100_000 + "}", encoding="utf-8")


def _labels_huge_field(root: Path) -> None:
    write_labels_csv([f"AAA_1d,{_bar_time(root, 100)},{'up' * 100_000}"])(root)


def _labels_year_2300(root: Path) -> None:
    write_labels_csv(["AAA_1d,2300-01-01,up", "AAA_1d,2001-07-20,down"])(root)  # the fuzzers' example


def _drop_first_code_dep(root: Path) -> None:
    """Remove one src/moola dependency line from dvc.yaml, as a hand edit would."""
    path = root / "dvc.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("- src/moola/"))
    path.write_text("".join(lines[:at] + lines[at + 1 :]), encoding="utf-8")


FUZZ_FOUND: tuple[Case, ...] = (
    Case("deps_dvc_yaml_lacks_a_code_dep", ("deps", "--check"), _drop_first_code_dep, ("dvc.yaml",)),
    Case(
        "params_list_as_key",
        ("make-splits",),
        _params_text(_insert_under("make_splits", "  ? [1, 2]\n  : 3")),
        ("params.yaml", "YAML"),
    ),
    Case(
        "params_deeply_nested",
        ("make-splits",),
        _params_text(_insert_under("make_splits", "  deep: " + "[" * 5000 + "]" * 5000)),
        ("params.yaml", "deeply"),
    ),
    Case(
        "params_section_not_a_mapping",
        ("make-splits",),
        edit_params(lambda p: p.update(make_splits=True)),
        ("make_splits", "mapping"),
    ),
    Case("params_key_with_line_break", ("make-splits",), set_param("make_splits", "na\nme", 1), ("make_splits",)),
    Case("audit_manifest_deeply_nested", ("audit", MANIFEST), _deep_manifest, (MANIFEST, "deeply")),
    Case("labels_field_200kb", ("build-windows",), _labels_huge_field, ("data/raw/labels.csv", "line 2")),
    Case("labels_year_2300", ("build-windows",), _labels_year_2300, ("data/raw/labels.csv", "line 2", "2262")),
    Case(
        "split_purge_days_nan",
        ("synth-cache",),
        edit_json(SPLIT, lambda s: s.update(purge_days=float("nan"))),
        ("splits/fwd_chain_v3.json", "purge_days"),
    ),
    Case(
        "split_name_not_a_string",
        ("synth-cache",),
        edit_json(SPLIT, lambda s: s.update(name=[[["x"]]])),
        ("splits/fwd_chain_v3.json", "name"),
    ),
)
CASES = CASES + FUZZ_FOUND


# ----- hand-labeled files on an intraday project (1-minute bars with session gaps) -----------------

OWN_LABELS = "data/raw/labels.csv"


def _intraday_fixture():
    """tests/data/intraday_fixture.py, loaded by path (it is not a package module)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "data" / "intraday_fixture.py"
    spec = importlib.util.spec_from_file_location("moola_intraday_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def own_labels(edit: Callable, **build_windows) -> Callable[[Path], None]:
    """Switch the project to generated intraday files and their hand labels, then break the labels.

    `edit(frame)` returns the labels as CSV text (the frame is the fixture's labels.csv); the
    project builds a new version v2 from the intraday files only, with `build_windows` on top.
    """

    def mutate(root: Path) -> None:
        import pandas as pd

        written = _intraday_fixture().write_intraday_data(root / "data")
        path = root / OWN_LABELS
        path.write_text(edit(pd.read_csv(path, keep_default_na=False)), encoding="utf-8", newline="")

        def change(params: dict) -> None:
            params["build_windows"].update(written["build_windows"], version="v2", **build_windows)

        edit_params(change)(root)

    return mutate


# ----- the second red team's audit, compare and params cases (an audit nothing fools) -------------

PREDICTIONS = "artifacts/runs/latest/predictions.parquet"


def _edit_predictions(change: Callable, rehash: bool = True) -> Callable[[Path], None]:
    """Rewrite the table beside the latest manifest with `change(frame)`; with `rehash` both
    manifests' `outputs` follow it, as a forger who also rewrote the manifest would leave them."""

    def mutate(root: Path) -> None:
        import hashlib

        import pandas as pd

        change(root, pd.read_parquet(root / PREDICTIONS)).to_parquet(root / PREDICTIONS, index=False)
        if rehash:
            digest = hashlib.sha256((root / PREDICTIONS).read_bytes()).hexdigest()
            for manifest_file in _manifest_files(root):
                manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
                manifest["outputs"]["predictions.parquet"] = digest
                manifest_file.write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    return mutate


def _grade_class_d(frame) -> str:
    frame["quality"] = ["D" if label == "retracement" else "A" for label in frame["label"]]
    return frame.to_csv(index=False)


def _date_cell(column: str, row: int, word: str) -> Callable:
    def edit(frame) -> str:
        if column not in frame:
            frame[column] = ""
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = word
        return frame.to_csv(index=False)

    return edit


def _line_separators_then_bad_class(frame) -> str:
    frame["note"] = ""
    frame.loc[0, "note"] = "wedge\u2028breaks\u2029out\x0cthen\x85fades"  # text, not line ends
    frame.loc[4, "label"] = "breakout"  # line 6 of the file
    return frame.to_csv(index=False)


def _codes_one_and_two(frame) -> str:
    frame["label"] = [1 if label == "consolidation" else 2 for label in frame["label"]]
    return frame.to_csv(index=False)


def _labels_outside_raw(root: Path) -> None:
    own_labels(lambda frame: frame.to_csv(index=False), labels_file="labels.csv")(root)
    (root / OWN_LABELS).rename(root / "data" / "labels.csv")


OWN_LABEL_CASES: tuple[Case, ...] = (
    Case(
        "labels_min_quality_drops_a_class",
        ("build-windows",),
        own_labels(_grade_class_d, min_quality="C"),
        (OWN_LABELS, "min_quality = C", "every row of class 'retracement'"),
    ),
    Case(
        "labels_listed_class_without_rows",
        ("build-windows",),
        own_labels(lambda frame: frame.to_csv(index=False), classes=["consolidation", "retracement", "breakout"]),
        (OWN_LABELS, "class 'breakout'", "no row"),
    ),
    Case(
        "labels_t1_now",
        ("build-windows",),
        own_labels(_date_cell("t1", 2, "now")),
        (OWN_LABELS, "line 4", "t1 'now'", "clock"),
    ),
    Case(
        "labels_start_tomorrow",
        ("build-windows",),
        own_labels(_date_cell("start", 0, "tomorrow")),
        (OWN_LABELS, "line 2", "start 'tomorrow'", "clock"),
    ),
    Case(
        "labels_end_time_without_date",
        ("build-windows",),
        own_labels(_date_cell("end", 1, "16:44")),
        (OWN_LABELS, "line 3", "end '16:44'", "not a timestamp"),
    ),
    Case(
        "labels_line_separator_in_a_field",
        ("build-windows",),
        own_labels(_line_separators_then_bad_class),
        (OWN_LABELS, "line 6:", "unknown class 'breakout'"),
    ),
    Case(
        "labels_file_outside_data_raw",
        ("build-windows",),
        _labels_outside_raw,
        ("build_windows.labels_file", "'labels.csv'", "outside data/raw/", "raw/labels.csv"),
    ),
    Case(
        "labels_codes_skip_zero",
        ("build-windows",),
        own_labels(_codes_one_and_two, classes=[]),
        (OWN_LABELS, "no row has code 0", "codes 0..K-1"),
    ),
)
CASES = CASES + OWN_LABEL_CASES


def _manifest_files(root: Path) -> list[Path]:
    run_id = json.loads((root / MANIFEST).read_text(encoding="utf-8"))["run_id"]
    return [root / MANIFEST, root / "artifacts/runs" / run_id / "manifest.json"]


def _every_window_right(root: Path, frame):
    import numpy as np

    proba = [column for column in frame.columns if column.startswith("proba_")]
    frame[proba] = np.eye(len(proba))[frame["y_true"].to_numpy()]
    frame["predicted"] = frame["y_true"]
    return frame


def _train_rows_as_fold_7(root: Path, frame):
    import numpy as np
    import pandas as pd

    split = json.loads((root / SPLIT).read_text(encoding="utf-8"))
    windows = pd.read_parquet(root / LABELED / "windows.parquet")
    tested = set(frame["window_id"])
    train = [row for row in split["train_indices"] if str(windows["id"].iloc[row]) not in tested][:5]
    extra = frame.iloc[: len(train)].copy()
    extra["window_id"] = windows["id"].iloc[train].astype(str).to_numpy()
    extra["y_true"] = np.load(root / LABELED / "y.npy")[train]
    extra["fold"] = 7
    return pd.concat([frame, extra], ignore_index=True)


def _not_probabilities(root: Path, frame):
    proba = [column for column in frame.columns if column.startswith("proba_")]
    frame[proba] = 3 * frame[proba] - 0.5  # arg-max kept; rows sum to 2.5, entries negative
    return frame


def _remove_predictions(root: Path) -> None:
    for manifest_file in _manifest_files(root):
        (manifest_file.parent / "predictions.parquet").unlink()


def _labeled_outside_the_project(root: Path) -> None:
    """Both manifests name, with a sha256, a labeled folder outside the project."""
    outside = root.parent / "elsewhere_windows"
    outside.mkdir(exist_ok=True)
    for manifest_file in _manifest_files(root):
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        manifest["paths"]["labeled"] = str(outside)
        manifest["inputs"][f"{outside}/meta.json"] = {"role": "labeled", "sha256": "0" * 64}
        manifest_file.write_text(json.dumps(manifest, indent=2), encoding="utf-8")


CLAIMS_FAIL = (MANIFEST, "claims", "do not hold")
AUDIT_ROUND_TWO: tuple[Case, ...] = (
    Case(
        "audit_predictions_rewritten_beside_the_manifest",
        ("audit", MANIFEST),
        _edit_predictions(_every_window_right, rehash=False),
        CLAIMS_FAIL,
    ),
    Case("audit_predictions_listed_but_deleted", ("audit", MANIFEST), _remove_predictions, CLAIMS_FAIL),
    Case(
        "audit_predictions_rows_invented_as_fold_7",
        ("audit", MANIFEST),
        _edit_predictions(_train_rows_as_fold_7),
        CLAIMS_FAIL + ("metrics re-derived from stored predictions",),
    ),
    Case(
        "audit_predictions_not_probabilities",
        ("audit", MANIFEST),
        _edit_predictions(_not_probabilities),
        CLAIMS_FAIL + ("metrics re-derived from stored predictions",),
    ),
    Case(
        "audit_eval_metrics_file_edited",
        ("audit", MANIFEST),
        edit_json("metrics/eval.json", lambda m: m["test"].update(accuracy=0.905)),
        CLAIMS_FAIL + ("metrics/eval.json",),
    ),
    Case(
        "audit_train_metrics_file_edited",
        ("audit", MANIFEST),
        edit_json("metrics/train.json", lambda m: m["mean"].update(val_accuracy=0.99)),
        CLAIMS_FAIL + ("metrics/train.json",),
    ),
    Case(
        "audit_pretrained_entry_is_a_string",
        ("audit", MANIFEST),
        edit_json(MANIFEST, lambda m: m.update(pretrained="yes")),
        (MANIFEST, "'pretrained'", "str"),
    ),
    Case(
        "compare_manifest_labeled_outside_the_project",
        ("compare", MANIFEST, MANIFEST),
        _labeled_outside_the_project,
        (MANIFEST, "absolute"),
    ),
)

_ALIAS_BOMB = "lol:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {b}: &{b} [*{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}]\n"
    for a, b in zip("abcdefgh", "bcdefghi", strict=False)
)


def _cpcv_of_184756_folds(params: dict) -> None:
    params["make_splits"].update(strategy="cpcv", n_groups=20, n_test_groups=10)


PARAMS_ROUND_TWO: tuple[Case, ...] = (
    Case(
        "params_section_misspelled",
        ("check-params",),
        edit_params(lambda p: p.update(trian=dict(epochs=3))),
        ("unknown section 'trian'", "did you mean 'train'"),
    ),
    Case(
        "params_alias_bomb_in_an_unknown_section",
        ("check-params",),
        _params_text(lambda text: text + _ALIAS_BOMB),
        ("params.yaml", "anchor or alias"),
    ),
    Case(
        "params_max_gap_without_a_unit",
        ("check-params",),
        set_param("build_windows", "max_gap", "1"),
        ("build_windows.max_gap", "with a unit"),
    ),
    Case(
        "params_version_rewritten_with_other_params",
        ("check-params",),
        set_param("build_windows", "barrier_k", 3.5),
        ("data/labeled_windows/v1", "build_windows.barrier_k", "never rewritten"),
    ),
    Case(
        "params_cpcv_folds_over_the_cap",
        ("check-params",),
        edit_params(_cpcv_of_184756_folds),
        ("make_splits.n_test_groups", "184,756", "1,000"),
    ),
)
CASES = CASES + AUDIT_ROUND_TWO + PARAMS_ROUND_TWO
