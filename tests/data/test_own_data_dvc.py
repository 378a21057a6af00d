"""The researcher's own data end to end under DVC: the tutorial of docs/DATA_LINEAGE.md, run as written.

One module-scoped run serves the slow tests here (about 100 s on a busy 2-core machine, 90 s of
it in the fixture). In a real git + DVC repository of the tiny project, v1 is built from its
daily files with `dvc repro synth_cache` (windows, split, cache: the v1 model stages add time
and nothing to "v1 is left alone") and committed. Generated 1-minute bars with session gaps
and a binary hand-labeled CSV then go into data/raw/ in place of the researcher's files, and
the tutorial's bash block runs exactly as the page shows it: one `dvc exp run evaluate -S ...`
through every stage on v2, which reads only the new files (raw_files), so the daily files that
stay for v1 play no part in it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "reliability"))
sys.path.insert(0, str(HERE))

from intraday_fixture import write_intraday_data  # noqa: E402
from reliability_project import REPO_ROOT, dvc, git, new_repository, run, snapshot  # noqa: E402

TUTORIAL_HEADING = "### Tutorial: from a hand-labeled CSV to labeled_windows/v2"
CLASSES = ("consolidation", "retracement")  # not the triple-barrier names
V1_PATHS = (
    "data/labeled_windows/v1",
    "data/unlabeled_windows/v1",
    "data/splits/fwd_chain_v3.json",
    "data/synthetic_cache/v1_temporal_q0.9_r0.5",
)
# What the tutorial's `dvc exp run -S ...` names (checked against the page's text below).
SPLIT, CACHE, ENCODER, EXPERIMENT = (
    "nq_kfold_v1",
    "v2_temporal_q0.9_r0.5",
    "artifacts/ts2vec/encoder_v2.pt",
    "nq-hand-labels",
)
T1_AFTER = pd.Timedelta("1D")  # every second label's explicit t1: the move resolved the next day


def tutorial_commands(page: Path = REPO_ROOT / "docs" / "DATA_LINEAGE.md") -> str:
    """The first ```bash block after the tutorial's heading, as the page shows it."""
    text = page.read_text(encoding="utf-8")
    assert TUTORIAL_HEADING in text, f"{page.name} has no heading {TUTORIAL_HEADING!r}"
    found = re.search(r"^```bash\n(.*?)^```$", text[text.index(TUTORIAL_HEADING) :], flags=re.S | re.M)
    assert found, f"the tutorial of {page.name} has no ```bash block"
    return found.group(1)


@dataclass(frozen=True)
class OwnDataRun:
    root: Path
    written: dict  # what write_intraday_data returned
    commands: str  # the tutorial's bash block
    v1_before: dict[str, str]  # sha256 of every v1 file before the tutorial ran
    output: str  # everything the tutorial's commands printed


def test_no_synthetic_row_is_a_byte_copy_of_its_parent():
    # What the run below first tripped over: a mixup weight within float32 rounding of 1 (Beta(0.2,
    # 0.2) draws them) gave back the parent's exact bytes, and the leak guard then found that
    # "synthetic" window in the fold that holds its parent out. A small alpha draws such weights often.
    from fake_labeled import fake_windows

    from moola.data import synth
    from moola.data.features import FEATURE_NAMES, compute_features

    ohlc, feats, y, _frame = fake_windows(per_symbol=6, seed=5)
    settings = synth.AugmentationSettings(ratio=3.0, quality=1.0, mixup_alpha=0.05, seed=11)
    made = synth.generate_synthetic(ohlc, feats, y, np.arange(len(y)), settings, FEATURE_NAMES, compute_features)
    parents = made.provenance["parent_index"].to_numpy()
    mixed = made.provenance["method"].eq("mixup").to_numpy()
    assert mixed.any() and (made.provenance["mix_weight"][mixed] > 0.9999).any()  # weights next to 1 were kept
    copies = (made.ohlc == ohlc[parents]).all(axis=(1, 2))
    assert not copies.any(), made.provenance[copies]


def _shrink_params(root: Path) -> None:
    """Fewer epochs than the reliability project (costs: tests/conftest.py `tiny_params`): it checks names, lineage."""
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["pretrain_ts2vec"].update(epochs=1)
    params["train"].update(epochs=3, patience=3)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def own_data_run(tmp_path_factory) -> OwnDataRun:
    root = new_repository(tmp_path_factory.mktemp("own_data") / "project", edit=_shrink_params)
    dvc(root, "repro", "synth_cache", timeout=600)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v1 built")
    v1_before = snapshot(root, V1_PATHS)
    written = write_intraday_data(
        root / "data", months=2, n_labels=60, class_names=CLASSES, window=105, t1_every=2, t1_after=str(T1_AFTER)
    )
    commands = tutorial_commands()
    result = run(["bash", "-euo", "pipefail", "-c", commands], root, timeout=900)
    output = f"{result.stdout}\n{result.stderr}"
    (root.parent / "tutorial.log").write_text(output, encoding="utf-8")  # beside the project, for a failure's story
    assert result.returncode == 0, f"the tutorial's commands exited {result.returncode}:\n{output}"
    return OwnDataRun(root=root, written=written, commands=commands, v1_before=v1_before, output=output)


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _ns(values) -> np.ndarray:
    return (
        pd.to_datetime(pd.Series(values), utc=True)
        .dt.tz_convert(None)
        .to_numpy()
        .astype("datetime64[ns]")
        .view("int64")
    )


def test_tutorial_names_what_the_checks_read():
    # The constants above are the tutorial's own names; a page edit that renames one fails here first.
    commands = tutorial_commands()
    for text in (
        f"make_splits.name={SPLIT}",
        f"train.synthetic={CACHE}",
        f"train.pretrained_encoder={ENCODER}",
        f"dvc exp run evaluate -n {EXPERIMENT}",
        "build_windows.version=v2",
        "build_windows.min_quality=C",
        f"'build_windows.classes=[{','.join(CLASSES)}]'",
    ):
        assert text in commands


@pytest.mark.slow
def test_class_names_travel_through_every_artifact(own_data_run):
    root, rows = own_data_run.root, own_data_run.written["labels_rows"]
    labeled = root / "data/labeled_windows/v2"
    meta = _json(labeled / "meta.json")
    assert meta["class_names"] == list(CLASSES) and meta["T"] == 105

    # min_quality C drops exactly the D rows, and the labeled version's manifest counts them.
    grades = [row["quality"] for row in rows]
    n_d = grades.count("D")
    assert 0 < n_d < len(rows)
    manifest = _json(labeled / "manifest.json")
    assert manifest["labels_file"]["dropped_by_min_quality"] == {"D": n_d}
    assert manifest["dropped"] == {"min_quality": n_d}
    assert meta["n"] == len(rows) - n_d == sum(meta["class_counts"].values())
    table = pd.read_parquet(labeled / "windows.parquet")
    assert set(table["quality"]) <= {"A", "B", "C"}

    evaluation = _json(root / "metrics/eval.json")
    assert sorted(evaluation["test"]["f1"]) == sorted(CLASSES)
    assert sorted(evaluation["collapse"]["recall"]) == sorted(CLASSES)
    assert sorted(evaluation["test"]["average_precision"]) == sorted(CLASSES)

    # The train stage's status report, printed inside the experiment, names the classes per fold.
    class_lines = [line for line in own_data_run.output.splitlines() if re.match(r"^\s+classes\s", line)]
    n_folds = _json(root / f"data/splits/{SPLIT}.json")["n_folds"]
    assert len(class_lines) == n_folds, own_data_run.output
    assert all(line.split()[1:3] == [f"{CLASSES[0]},", CLASSES[1]] for line in class_lines), class_lines
    assert re.search(rf"most-predicted class\s+({'|'.join(CLASSES)}) on", own_data_run.output)

    confusion = pd.read_csv(root / "plots/eval/confusion.csv")
    assert list(confusion.columns) == ["actual", "predicted"]
    assert set(confusion["actual"]) == set(CLASSES) and set(confusion["predicted"]) <= set(CLASSES)
    assert len(confusion) == evaluation["test"]["n"]
    assert (root / "plots/data/class_examples.png").stat().st_size > 0


def _conflicts(starts, t1s, earlier, later, gap_ns) -> int:
    """Pairs (a in earlier, b in later) whose spans [start, t1] come within gap of each other."""
    a, b = np.asarray(earlier, dtype=np.int64), np.asarray(later, dtype=np.int64)
    near = (starts[b][None, :] <= t1s[a][:, None] + gap_ns) & (starts[a][:, None] <= t1s[b][None, :] + gap_ns)
    return int(near.sum())


def _rule_breaks(starts, t1s, folds, gap_ns) -> int:
    """Pairs across train|val, train|test and val|test of every fold that break the embargo rule."""
    return sum(
        _conflicts(starts, t1s, fold[p], fold[q], gap_ns)
        for fold in folds
        for p, q in (("train", "val"), ("train", "test"), ("val", "test"))
    )


def _recut(split: dict, starts, t1s) -> list[dict]:
    """The folds the split's own strategy and settings cut from these spans."""
    from moola.data.folds import purged_kfold, walk_forward

    embargo = pd.Timedelta(split["embargo"])
    if split["strategy"] == "purged_kfold":
        plan = purged_kfold(starts, t1s, split["n_folds_requested"], split["val_fraction"], embargo)
    else:
        plan = walk_forward(
            starts,
            t1s,
            split["n_folds_requested"],
            split["train_fraction"],
            split["val_fraction"],
            embargo,
            purge=split["purge"],
            window=split["window"],
        )
    return [{part: fold.part(part).tolist() for part in ("train", "val", "test", "purged")} for fold in plan.folds]


@pytest.mark.slow
def test_purge_and_embargo_use_the_labels_t1(own_data_run):
    import yaml

    root, rows = own_data_run.root, own_data_run.written["labels_rows"]
    table = pd.read_parquet(root / "data/labeled_windows/v2/windows.parquet")
    split = _json(root / f"data/splits/{SPLIT}.json")
    strategy = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))["make_splits"]["strategy"]
    assert split["labeled_version"] == "v2" and split["strategy"] == strategy and split["purge"] is True
    gap = pd.Timedelta(split["embargo"])
    assert gap == pd.Timedelta("30min")

    # windows.parquet carries the labels' t1: the CSV's where given, else the window end.
    given = {pd.Timestamp(row["end"]): pd.Timestamp(row["t1"]) for row in rows if row["t1"]}
    explicit = table["end"].map(given)
    has_t1 = explicit.notna().to_numpy()
    assert 0 < has_t1.sum() < len(table)
    assert (table.loc[has_t1, "t1"] == explicit[has_t1]).all()
    assert (table.loc[has_t1, "t1"] == table.loc[has_t1, "end"] + T1_AFTER).all()
    assert (table.loc[~has_t1, "t1"] == table.loc[~has_t1, "end"]).all()

    starts, t1s, ends = _ns(table["start"]), _ns(table["t1"]), _ns(table["end"])
    folds = [{part: fold[f"{part}_indices"] for part in ("train", "val", "test", "purged")} for fold in split["folds"]]
    assert len(folds) == split["n_folds"] >= 2
    # The guarantee on the data: no train span [start, t1] within the embargo of a val or test span
    # (nor val of test), in any fold.
    assert _rule_breaks(starts, t1s, folds, gap.value) == 0
    assert _recut(split, starts, t1s) == folds  # the split is its strategy's cut of these spans

    # t1 made a difference. Cut on window ends alone (as if the labels' t1 were ignored), the folds
    # differ and break the rule on the real spans: a train window whose label looked into the next
    # day would sit beside the val or test windows of that day.
    on_ends = _recut(split, starts, ends)
    assert on_ends != folds
    assert _rule_breaks(starts, t1s, on_ends, gap.value) > 0
    # An empty t1 cell is the window end, not a horizon: a long horizon (3 days) past every end
    # would have purged more.
    on_horizon = _recut(split, starts, ends + pd.Timedelta("3D").value)
    assert sum(len(f["purged"]) for f in on_horizon) > sum(len(f["purged"]) for f in folds)


def _experiments(shown) -> dict[str, dict]:
    """{name: record} of every named experiment anywhere in `dvc exp show --json`'s output."""
    found: dict[str, dict] = {}
    stack = [shown]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("name") and isinstance(node.get("data"), dict):
                found[node["name"]] = node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@pytest.mark.slow
def test_tutorial_builds_v2_beside_an_untouched_v1(own_data_run):
    root = own_data_run.root
    assert len(own_data_run.v1_before) >= 10
    assert snapshot(root, V1_PATHS) == own_data_run.v1_before

    labeled, unlabeled = root / "data/labeled_windows/v2", root / "data/unlabeled_windows/v2"
    assert _json(labeled / "meta.json")["version"] == "v2"
    unlabeled_meta = _json(unlabeled / "meta.json")
    assert unlabeled_meta["n"] > 0 and unlabeled_meta["T"] == 105
    assert _json(unlabeled / "manifest.json")["dropped"]["max_gap"] > 0  # nights and weekends
    cache_meta = _json(root / f"data/synthetic_cache/{CACHE}/meta.json")
    assert cache_meta["split_name"] == SPLIT and cache_meta["labeled_version"] == "v2"
    assert (root / ENCODER).stat().st_size > 0

    lock = (root / "dvc.lock").read_text(encoding="utf-8")
    for path in ("data/labeled_windows/v2", f"data/splits/{SPLIT}.json", f"data/synthetic_cache/{CACHE}", ENCODER):
        assert f"path: {path}" in lock
    assert "data/labeled_windows/v1" not in lock  # no stage of the experiment names v1

    shown = json.loads(dvc(root, "exp", "show", "--json").stdout)
    experiments = _experiments(shown)
    assert EXPERIMENT in experiments, json.dumps(shown)[:2000]
    metrics = experiments[EXPERIMENT]["data"]["metrics"]["metrics/eval.json"]["data"]
    assert metrics == _json(root / "metrics/eval.json")
    params = experiments[EXPERIMENT]["data"]["params"]["params.yaml"]["data"]
    assert params["train"]["dataset"] == "v2" and params["build_windows"]["classes"] == list(CLASSES)
    assert "Data and pipelines are up to date" in dvc(root, "status").stdout


@pytest.mark.slow
def test_a_full_checkout_drops_v1_from_the_folder_and_its_commit_brings_it_back(own_data_run):
    # What the page's "v1 in the workspace" says. Defined last: it changes the shared repository.
    root = own_data_run.root
    dvc(root, "checkout", "--force")  # no target: only the current dvc.lock's outputs stay
    assert snapshot(root, V1_PATHS) == {}
    git(root, "checkout", "-q", "-f", "HEAD")  # the commit the experiment started from (v1's dvc.lock)
    dvc(root, "checkout", "--force", "--allow-missing")  # v1 ran its data stages only: no v1 model to restore
    assert snapshot(root, V1_PATHS) == own_data_run.v1_before
