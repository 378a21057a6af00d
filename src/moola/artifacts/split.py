"""Split artifact: `data/splits/<name>.json`, the rows of train, val, test and purged.

Field names follow the seed's split files: `train_indices`, `val_indices`, `test_indices`
(plus `purged_indices` and `unused_indices`), `purge` and `purge_days` (the embargo in days),
`counts`, `created_by`, `timestamp` — beside moola's own: `labeled_version`,
`labeled_fingerprint`, `strategy`, `time_ordered`, `embargo` (pandas Timedelta text),
`time_ranges`, `class_counts`, and `folds`: one entry per fold with the same part fields
(walk-forward and purged k-fold: k folds in time order; CPCV: C(N, k) folds; purged k-fold
and CPCV record their time `groups` and backtest `paths`). The
top-level parts are the split's default fold (the last one): what a single train/val/test
split is, and what `DataRegistry.load_labeled()` gives without a fold.

The rules a split must satisfy live in `problems` and nowhere else: in every fold the index
lists are sorted, in range, disjoint and cover every labeled row once; the labeled version and
fingerprint it names; and the time rule on the windows' spans [start, t1]: no train span
overlaps, or comes within the embargo of, a val or test span, and val keeps that distance from
test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moola import io
from moola.artifacts import common, layout
from moola.errors import MoolaError

PARTS = ("train", "val", "test")
STRATEGIES = ("forward_chaining", "walk_forward", "purged_kfold", "cpcv", "stratified")
TIME_ORDERED = ("forward_chaining", "walk_forward")
ALL_PARTS = ("train", "val", "test", "purged", "unused")
CREATED_BY = "moola make-splits"
# Fields that do not change what a split *is*: the code hash moves with every edit of the code.
NON_CONTENT_FIELDS = ("code",)
REQUIRED_FIELDS = (
    "name",
    "labeled_version",
    "labeled_fingerprint",
    "strategy",
    "time_ordered",
    "purge",
    "purge_days",
    "embargo",
    "train_indices",
    "val_indices",
    "test_indices",
    "purged_indices",
    "unused_indices",
    "counts",
    "time_ranges",
    "created_by",
    "timestamp",
    "n_folds",
    "folds",
)
FOLD_FIELDS = ("index", "train_indices", "val_indices", "test_indices", "purged_indices", "unused_indices", "counts")

# Types of the fields that no other check reads (the index lists, strategy and embargo have their own).
FIELD_TYPES = {
    "name": (str,),
    "labeled_version": (str,),
    "labeled_fingerprint": (str,),
    "purge": (bool,),
    "counts": (dict,),
    "time_ranges": (dict,),
    "created_by": (str,),
    "timestamp": (str, type(None)),
}


def refuse_unknown_strategy(strategy: Any, where: str) -> None:
    """Raise unless `strategy` is a supported, leak-free split strategy.

    Args:
        strategy: the strategy as written in params.yaml, on the command line or in a split file.
        where: what holds it ("params key make_splits.strategy", "split file data/splits/x.json").
    """
    if strategy in STRATEGIES:
        return
    if isinstance(strategy, str) and strategy.lower() in ("random", "shuffle", "kfold", "random_kfold"):
        raise MoolaError(
            f"{where}: {repr(strategy)[:60]} is refused: overlapping windows in a random split put "
            "near-copies of test windows into train and inflate every metric; "
            "use purged_kfold, forward_chaining or walk_forward (or cpcv / stratified), which purge"
        )
    raise MoolaError(f"{where}: unknown split strategy {str(strategy)[:40]!r}: choose one of {', '.join(STRATEGIES)}")


def indices_key(part: str) -> str:
    """The field holding a part's rows: train -> train_indices."""
    return f"{part}_indices"


def rows(split: dict[str, Any], part: str, fold: int | None = None) -> Any:
    """A part's rows as an int64 array: of the default fold, or of fold `fold`."""
    import numpy as np

    source = split if fold is None else fold_doc(split, fold)
    return np.asarray(source[indices_key(part)], dtype=np.int64)


def tested_rows(split: dict[str, Any], fold: int) -> Any:
    """The rows fold `fold` scores out of fold: its test part (CPCV: only the groups it supplies
    to the first backtest path, so that every window is scored once)."""
    import numpy as np

    test = rows(split, "test", fold)
    if split["strategy"] != "cpcv":
        return test
    groups = [np.asarray(g, dtype=np.int64) for g in split["groups"]]
    mine = [g for g, supplier in enumerate(split["paths"][0]) if supplier == fold]
    keep = np.concatenate([groups[g] for g in mine]) if mine else np.zeros(0, dtype=np.int64)
    return test[np.isin(test, keep)]


def out_of_fold_rows(split: dict[str, Any]) -> Any:
    """Every row some fold scores out of fold (the union of `tested_rows`), sorted int64."""
    import numpy as np

    tested = [tested_rows(split, fold) for fold in range(len(split.get("folds") or []))]
    return np.unique(np.concatenate(tested)) if tested else np.zeros(0, dtype=np.int64)


def fold_doc(split: dict[str, Any], fold: int) -> dict[str, Any]:
    """Fold `fold` of a split document (a MoolaError naming the split when it has no such fold)."""
    folds = split.get("folds") or []
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < len(folds):
        raise MoolaError(f"split {split.get('name')} has folds 0..{len(folds) - 1}, not fold {fold!r}")
    return folds[fold]


@dataclass(frozen=True)
class Split:
    """A split file read and checked against its labeled version."""

    path: Path
    doc: dict[str, Any]
    sha256: str

    @property
    def name(self) -> str:
        return str(self.doc["name"])

    def rows(self, part: str, fold: int | None = None) -> Any:
        return rows(self.doc, part, fold)

    @property
    def n_folds(self) -> int:
        return int(self.doc["n_folds"])


def content(split: dict[str, Any]) -> dict[str, Any]:
    """The part of a split document that defines it (everything except the code hash)."""
    return {key: value for key, value in split.items() if key not in NON_CONTENT_FIELDS}


def _index_list_problem(values: Any, part: str, n_rows: int) -> str | None:
    key = indices_key(part)
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return f"{key} must be a list of integer row indices"
    if any(v < 0 or v >= n_rows for v in values):
        bad = next(v for v in values if v < 0 or v >= n_rows)
        return f"{key} holds row {bad}, outside the labeled set's rows 0..{n_rows - 1}"
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        return f"{key} is not a sorted list of distinct rows"
    return None


def problems(
    split: Any,
    n_rows: int,
    fingerprint: str | None = None,
    version: str | None = None,
    windows: Any = None,
) -> list[str]:
    """List every way a split document disagrees with its labeled set (empty list = valid).

    Args:
        split: the parsed split JSON.
        n_rows: number of rows of the labeled arrays.
        fingerprint: the labeled fingerprint the split must name (None: not checked).
        version: the labeled version the split must name (None: not checked).
        windows: the labeled windows table (None: purge and embargo not checked).

    Returns:
        One short sentence per problem.
    """
    from moola.timespans import parse_duration

    if not isinstance(split, dict):
        return ["the split file must hold a JSON object"]
    missing = [name for name in REQUIRED_FIELDS if name not in split]
    if missing:
        return [f"missing field(s) {', '.join(missing)}"]
    wrong = next((name for name, kind in FIELD_TYPES.items() if not isinstance(split[name], kind)), None)
    if wrong is not None:
        return [f"field {wrong} is a {type(split[wrong]).__name__}, not a {FIELD_TYPES[wrong][0].__name__}"]
    found: list[str] = []
    try:
        refuse_unknown_strategy(split["strategy"], "strategy")
    except MoolaError as exc:
        return [str(exc)]
    if split["time_ordered"] is not (split["strategy"] in TIME_ORDERED):
        found.append(f"time_ordered is {split['time_ordered']!r} but strategy is {split['strategy']}")
    if version is not None and split["labeled_version"] != version:
        found.append(
            f"it was made for {layout.LABELED}/{str(split['labeled_version'])[:40]}, not {layout.LABELED}/{version}"
        )
    if fingerprint is not None and split["labeled_fingerprint"] != fingerprint:
        found.append(
            f"its labeled_fingerprint {str(split['labeled_fingerprint'])[:12]} does not match the labeled set's "
            f"{fingerprint[:12]} (the data changed since the split was made)"
        )
    try:
        gap = parse_duration(split["embargo"], "embargo")
    except MoolaError as exc:
        return found + [str(exc)]
    days = split["purge_days"]
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not abs(days - gap.value / 86_400e9) <= 1e-9:
        found.append(f"purge_days {str(days)[:20]} does not equal the embargo {split['embargo']} in days")
    val_required = split["strategy"] != "cpcv"
    top = fold_problems(split, n_rows, windows, int(gap.value), split["embargo"], val_required)
    if top:
        return found + top
    folds = split["folds"]
    if not isinstance(folds, list) or not folds or split["n_folds"] != len(folds):
        return found + ["folds must be a non-empty list of n_folds folds"]
    for number, fold in enumerate(folds):
        where = f"fold {number}"
        if not isinstance(fold, dict) or any(name not in fold for name in FOLD_FIELDS) or fold["index"] != number:
            found.append(f"{where} lacks its fields or its index")
            continue
        faults = fold_problems(fold, n_rows, windows, int(gap.value), split["embargo"], val_required)
        found.extend(f"{where}: {fault}" for fault in faults)
    if not found and (
        any(split[indices_key(p)] != folds[-1][indices_key(p)] for p in ALL_PARTS)
        or split["counts"] != folds[-1]["counts"]
    ):
        found.append("the top-level parts are not those of the last fold")
    return found


def fold_problems(
    fold: dict[str, Any], n_rows: int, windows: Any, gap: int, embargo_text: str, val_required: bool = True
) -> list[str]:
    """Every way one fold breaks the rules: index lists, coverage, counts, and the time rule.

    Args:
        fold: a fold document (`<part>_indices` lists and `counts`).
        n_rows: rows of the labeled set.
        windows: the labeled windows table (`start`, `t1`), or None to skip the time rule.
        gap: the embargo in nanoseconds.
        embargo_text: the embargo as written, for messages.
        val_required: False for CPCV folds, which have no val part.
    """
    faults = [p for p in (_index_list_problem(fold.get(indices_key(part)), part, n_rows) for part in ALL_PARTS) if p]
    if not faults:
        faults = _coverage_problems(fold, n_rows, val_required)
    if not faults and windows is not None:
        faults = time_problems(fold, windows, gap, embargo_text)
    return faults


def _coverage_problems(fold: dict[str, Any], n_rows: int, val_required: bool = True) -> list[str]:
    import numpy as np

    found = []
    seen = np.zeros(n_rows, dtype=np.int64)
    for part in ALL_PARTS:
        seen[rows(fold, part)] += 1
    if (seen > 1).any():
        row = int(np.flatnonzero(seen > 1)[0])
        holders = [part for part in ALL_PARTS if row in fold[indices_key(part)]]
        found.append(f"row {row} is in more than one part ({', '.join(holders)})")
    if (seen == 0).any():
        missing = np.flatnonzero(seen == 0)
        found.append(f"{missing.size} labeled row(s) are in no part (first: row {int(missing[0])})")
    for part in PARTS if val_required else ("train", "test"):
        if not fold[indices_key(part)]:
            found.append(f"the {part} part is empty")
    counts = fold["counts"]
    if not isinstance(counts, dict) or any(counts.get(part) != len(fold[indices_key(part)]) for part in ALL_PARTS):
        found.append("counts do not match the index lists")
    return found


def time_problems(parts: dict[str, Any], windows: Any, gap: int, embargo_text: str) -> list[str]:
    """The time rule of one fold on the spans [start, t1] (the one rule of every strategy).

    For a row a in one of train, val, test and a row b in another, the spans must be apart by
    more than the embargo: start_b > t1_a + embargo or start_a > t1_b + embargo.

    Args:
        parts: a fold (or split) document with `<part>_indices` lists.
        windows: the labeled windows table (`start`, `t1`).
        gap: the embargo in nanoseconds.
        embargo_text: the embargo as written, for messages.
    """
    from moola.timespans import conflicting_rows, to_nanoseconds

    starts = to_nanoseconds(windows["start"])
    t1s = to_nanoseconds(windows["t1"])
    found = []
    for name_a, name_b in (("train", "val"), ("train", "test"), ("val", "test")):
        a, b = rows(parts, name_a), rows(parts, name_b)
        overlapping = conflicting_rows(starts[a], t1s[a], starts[b], t1s[b], 0)
        if overlapping.any():
            found.append(f"{name_a} row {int(a[overlapping.argmax()])} overlaps a {name_b} span (not purged)")
            continue
        within = conflicting_rows(starts[a], t1s[a], starts[b], t1s[b], gap)
        if within.any():
            found.append(
                f"{name_a} row {int(a[within.argmax()])} lies within the embargo {embargo_text} of a {name_b} span"
            )
    return found


def check(split: Any, where: str, **against: Any) -> None:
    """Raise a one-line MoolaError naming `where` for the first problem `problems` finds."""
    found = problems(split, **against)
    if found:
        more = f" (and {len(found) - 1} more problem(s))" if len(found) > 1 else ""
        raise MoolaError(
            f"split {where} is not valid for its labeled set: {found[0]}{more}; make a new split with moola make-splits"
        )


def read(data: Path, name: str, labeled: Any) -> Split:
    """Read `data/splits/<name>.json` and check it against a verified labeled `WindowVersion`."""
    path = layout.split_file(data, name)
    label = f"{layout.SPLITS}/{path.name}"
    if not path.is_file():
        raise MoolaError(f"split {label} not found under {common.shown(data)}: run moola make-splits (or dvc pull)")
    doc = io.read_json(path, label)
    check(
        doc,
        label,
        n_rows=int(labeled.meta["n"]),
        fingerprint=labeled.fingerprint,
        version=labeled.version,
        windows=labeled.windows,
    )
    return Split(path=path, doc=doc, sha256=io.sha256_file(path))


def write(data: Path, doc: dict[str, Any], n_rows: int) -> tuple[Path, bool]:
    """Write a split file atomically unless the same split is already there.

    Returns:
        (path, True when it already held this split and was left unchanged).
    """
    check(doc, f"{layout.SPLITS}/{doc.get('name')}{layout.SPLIT_SUFFIX}", n_rows=n_rows)
    path = layout.split_file(data, doc["name"])
    unchanged = common.refuse_rewrite(
        path,
        content(doc),
        lambda file: content(io.read_json(file, common.shown(file))),
        what="split",
        bump=(
            f"set make_splits.name to a new name (e.g. {common.bumped(doc['name'])}) and point synth_cache.split and "
            "train.split at it"
        ),
    )
    if not unchanged:
        io.write_json(path, doc)
    return path, unchanged


def names(data: Path) -> list[str]:
    """Every split name under data/splits/."""
    folder = Path(data) / layout.SPLITS
    if not folder.is_dir():
        return []
    return sorted(
        p.name[: -len(layout.SPLIT_SUFFIX)]
        for p in folder.glob(f"*{layout.SPLIT_SUFFIX}")
        if not p.name.startswith(".")
    )
