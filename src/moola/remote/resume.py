"""Resumable training states across pods: where they live, which run they belong to, their uploads."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

from moola.errors import MoolaError


def resume_state_paths(root: Path, stage_name: str) -> list[Path]:
    """The resumable state files a stage writes while it runs (the one place a pod learns them).

    Args:
        root: the project folder.
        stage_name: a dvc.yaml stage.

    Returns:
        Absolute paths; empty for stages that save no state.
    """
    import json

    from moola.artifacts import layout, resume
    from moola.params import load_params

    params = load_params(root / "params.yaml")
    output = (params.get("pretrain_ts2vec") or {}).get("output")
    if stage_name == "pretrain_ts2vec" and output:
        return [resume.state_file(root / output)]
    if stage_name == "train" and params.get("model"):
        split_name = (params.get("train") or {}).get("split")
        try:  # one state per fold of the split the stage trains on (pulled before the stage runs)
            n_folds = int(json.loads(layout.split_file(layout.data_dir(root), split_name).read_text())["n_folds"])
        except (OSError, ValueError, KeyError, TypeError):
            n_folds = 1
        from moola.evaluation.config import EvaluateParams
        from moola.params import load_section

        # the model's own fits first, then those of every requested ablation (each saves its own states)
        variants = [None, *load_section(EvaluateParams, "evaluate", params).ablations]
        return [
            layout.training_state_file(root, params["model"], fold, variant)
            for variant in variants
            for fold in range(n_folds)
        ]
    return []


def stage_input_key(stage: Any) -> str:
    """sha256 of the stage's command, dependency hashes and params values, as dvc.lock would record them.

    Any change of code, data or params gives another key, so a state saved for one run is never
    offered to another. Call it once the stage's inputs are in the work tree.

    Args:
        stage: a `dvc.stage.PipelineStage` whose dependencies are present.
    """
    from dvc.stage.serialize import to_single_stage_lockfile

    stage.save_deps()
    entry = to_single_stage_lockfile(stage)
    identity = {"cmd": entry.get("cmd"), "deps": entry.get("deps", []), "params": entry.get("params", {})}
    for dep in identity["deps"]:
        dep.pop("size", None)
        dep.pop("nfiles", None)
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class StateUploader:
    """A thread that copies changed state files to the remote at most every `interval_s` seconds.

    Args:
        store: a `RemoteStore` (its `upload(path, key)` does the copy).
        key: the run's `stage_input_key`.
        paths: the state files to watch.
        interval_s: shortest time between two uploads (0: every change).
        log: where "uploaded" lines go.
        poll_s: how often the files are looked at.
    """

    def __init__(
        self,
        store: Any,
        key: str,
        paths: list[Path],
        interval_s: float,
        log: Callable[[str], None],
        poll_s: float = 1.0,
    ):
        self.store, self.key, self.paths = store, key, paths
        self.interval_s, self.poll_s, self.log = interval_s, poll_s, log
        self.uploads = 0
        self.bytes_uploaded = 0
        self.error: MoolaError | None = None
        self._seen: dict[Path, tuple[int, int]] = {path: self._stamp(path) for path in paths}
        self._last_upload = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="moola-state-upload", daemon=True)

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (stat.st_mtime_ns, stat.st_size)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            if time.monotonic() - self._last_upload >= self.interval_s:
                self.flush()

    def flush(self) -> None:
        """Upload every watched file that changed since its last upload (errors are kept, not raised)."""
        for path in self.paths:
            stamp = self._stamp(path)
            if stamp == (0, 0) or stamp == self._seen.get(path):
                continue
            try:
                size = self.store.upload(path, self.key)
            except MoolaError as exc:
                self.error = exc  # training goes on; the final push reports the remote's state
                continue
            except FileNotFoundError:
                continue  # removed between the look and the copy (the stage finished)
            self._seen[path] = stamp
            self._last_upload = time.monotonic()
            self.uploads += 1
            self.bytes_uploaded += size
            self.log(f"moola pod: saved {path.name} ({size} bytes) to the remote")

    def __enter__(self) -> "StateUploader":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.flush()  # a failed stage keeps its last epoch for the next pod
