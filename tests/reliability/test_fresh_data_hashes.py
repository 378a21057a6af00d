"""A fresh clone makes the committed dvc.lock's data hashes, and parquet bytes follow content only."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from reliability_project import dvc, git, read_lock

from moola.io import write_parquet

REPO_ROOT = Path(__file__).resolve().parents[2]
# The outputs a fresh x86-64 clone makes byte for byte as the committed dvc.lock records them.
DATA_STAGES = ("check_params", "build_windows", "make_splits", "synth_cache")
# Their bytes depend on the machine: pretraining's float32 sums follow the CPU's kernels (the
# final loss moved in the 5th digit between two x86-64 machines), and every later output holds
# or follows the encoder (README and docs/RELIABILITY.md, "Reproducible hashes").
MACHINE_DEPENDENT_STAGES = ("pretrain_ts2vec", "train", "evaluate")


def _frame(text_dtype):
    import pandas as pd

    times = pd.date_range("2020-01-01", periods=5, freq="D", tz="UTC").as_unit("ns")  # as windows.py writes
    return pd.DataFrame(
        {
            "id": pd.array([f"AAA@{t:%Y-%m-%d}" for t in times], dtype=text_dtype),
            "symbol": pd.array(["AAA"] * 5, dtype=text_dtype),
            "start": times,
            "label": np.arange(5, dtype=np.int64),
            "weight": np.linspace(0.0, 1.0, 5),
        }
    )


def test_parquet_bytes_do_not_depend_on_how_pandas_holds_text(tmp_path):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    # object (pandas 2), a pandas string dtype and Arrow large_string (what pandas 3 hands over).
    dtypes = {"object": object, "string": "string", "arrow": pd.ArrowDtype(pa.large_string())}
    written = {}
    for name, dtype in dtypes.items():
        write_parquet(tmp_path / f"{name}.parquet", _frame(dtype))
        written[name] = (tmp_path / f"{name}.parquet").read_bytes()
    assert len(set(written.values())) == 1, "the text dtype changed the parquet bytes"

    metadata = pq.read_metadata(tmp_path / "object.parquet")
    assert metadata.metadata is None  # no pandas block, no serialised Arrow schema
    column = metadata.row_group(0).column(0)
    assert column.compression == "UNCOMPRESSED" and not column.is_stats_set
    # The one version-dependent field left: pyarrow cannot set it, the lock fixes it.
    assert metadata.created_by == f"parquet-cpp-arrow version {pa.__version__}"

    back = pd.read_parquet(tmp_path / "arrow.parquet")
    assert str(back["start"].dtype) == "datetime64[ns, UTC]"
    assert back["label"].dtype == np.int64 and back["weight"].dtype == np.float64
    assert pd.api.types.is_string_dtype(back["id"]) and list(back["id"]) == list(_frame(object)["id"])
    assert back["start"].equals(_frame(object)["start"])


def test_parquet_bytes_change_with_content(tmp_path):
    frame = _frame(object)
    write_parquet(tmp_path / "a.parquet", frame)
    frame.loc[2, "label"] = 9
    write_parquet(tmp_path / "b.parquet", frame)
    assert (tmp_path / "a.parquet").read_bytes() != (tmp_path / "b.parquet").read_bytes()


def test_every_stage_is_either_checked_across_machines_or_declared_machine_dependent():
    import yaml

    stages = set(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"])
    assert stages == set(DATA_STAGES) | set(MACHINE_DEPENDENT_STAGES)
    assert not set(DATA_STAGES) & set(MACHINE_DEPENDENT_STAGES)


def _data_outs(lock: dict) -> dict[str, str]:
    return {
        out["path"]: out.get("md5") for stage in DATA_STAGES for out in lock["stages"].get(stage, {}).get("outs", [])
    }


@pytest.mark.slow
def test_fresh_clone_makes_the_committed_data_hashes(tmp_path):
    """About 60 s on a busy 2-core machine: clone HEAD, `dvc repro synth_cache` in the clone, compare with HEAD's
    dvc.lock."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git work tree: nothing committed to compare with")
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", "--no-checkout", str(REPO_ROOT), str(clone))
    git(clone, "checkout", "--quiet", head)
    committed = _data_outs(read_lock(clone))
    assert set(committed) >= {"data/labeled_windows/v1", "data/splits/fwd_chain_v3.json"}, (
        "dvc.lock lacks the data stages"
    )

    dvc(clone, "repro", "synth_cache", timeout=600)
    produced = _data_outs(read_lock(clone))
    differing = {path: (committed.get(path), md5) for path, md5 in produced.items() if committed.get(path) != md5}
    assert not differing, (
        f"a fresh clone of {head[:10]} makes other data than its dvc.lock records "
        f"(path: committed md5, fresh md5): {differing}; if the code or requirements/lock.txt changed on purpose, "
        "delete those outputs (a stage leaves an output with the same content as it is), run `dvc repro synth_cache` "
        "and commit dvc.lock"
    )
