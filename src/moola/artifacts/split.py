"""Split artifact: `data/splits/<name>.json`, the rows of train, val, test and purged.

Field names follow the seed's split files: `train_indices`, `val_indices`, `test_indices`
(plus `purged_indices`), `purge` and `purge_days` (the embargo in days), `counts`,
`created_by`, `timestamp` — beside moola's own: `labeled_version`, `labeled_fingerprint`,
`strategy`, `time_ordered`, `embargo` (pandas Timedelta text), `time_ranges`, `class_counts`.

The rules a split must satisfy live in `problems` and nowhere else: index lists sorted, in
range, disjoint and covering every labeled row once; the labeled version and fingerprint it
names; and the time guarantees (purge and embargo) checked on the labeled windows' spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from moola import io
from moola.artifacts import common, layout
from moola.errors import MoolaError

PARTS = ("train", "val", "test")
STRATEGIES = ("forward_chaining", "stratified")
ALL_PARTS = ("train", "val", "test", "purged")
CREATED_BY = "moola make-splits"
# Fields that do not change what a split *is*: the code hash moves with every edit of the code.
NON_CONTENT_FIELDS = ("code",)
REQUIRED_FIELDS = (
    "name", "labeled_version", "labeled_fingerprint", "strategy", "time_ordered", "purge", "purge_days",
    "embargo", "train_indices", "val_indices", "test_indices", "purged_indices", "counts", "time_ranges",
    "created_by", "timestamp",
)

# Types of the fields that no other check reads (the index lists, strategy and embargo have their own).
FIELD_TYPES = {
    "name": (str,), "labeled_version": (str,), "labeled_fingerprint": (str,), "purge": (bool,), "counts": (dict,),
    "time_ranges": (dict,), "created_by": (str,), "timestamp": (str, type(None)),
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
            "use forward_chaining (or stratified, which still purges)"
        )
    raise MoolaError(f"{where}: unknown split strategy {repr(strategy)[:60]}: choose forward_chaining or stratified")


def indices_key(part: str) -> str:
    """The field holding a part's rows: train -> train_indices."""
    return f"{part}_indices"


def rows(split: dict[str, Any], part: str) -> Any:
    """A part's rows as an int64 array."""
    import numpy as np

    return np.asarray(split[indices_key(part)], dtype=np.int64)


@dataclass(frozen=True)
class Split:
    """A split file read and checked against its labeled version."""

    path: Path
    doc: dict[str, Any]
    sha256: str

    @property
    def name(self) -> str:
        return str(self.doc["name"])

    def rows(self, part: str) -> Any:
        return rows(self.doc, part)


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
    if any(b <= a for a, b in zip(values, values[1:])):
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
    if split["time_ordered"] is not (split["strategy"] == "forward_chaining"):
        found.append(f"time_ordered is {split['time_ordered']!r} but strategy is {split['strategy']}")
    if version is not None and split["labeled_version"] != version:
        found.append(f"it was made for {layout.LABELED}/{str(split['labeled_version'])[:40]}, not {layout.LABELED}/{version}")
    if fingerprint is not None and split["labeled_fingerprint"] != fingerprint:
        found.append(
            f"its labeled_fingerprint {str(split['labeled_fingerprint'])[:12]} does not match the labeled set's "
            f"{fingerprint[:12]} (the data changed since the split was made)"
        )
    index_problems = [p for p in (_index_list_problem(split[indices_key(part)], part, n_rows) for part in ALL_PARTS) if p]
    found.extend(index_problems)
    if index_problems:
        return found
    found.extend(_coverage_problems(split, n_rows))
    try:
        gap = parse_duration(split["embargo"], "embargo")
    except MoolaError as exc:
        return found + [str(exc)]
    days = split["purge_days"]
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not abs(days - gap.value / 86_400e9) <= 1e-9:
        found.append(f"purge_days {str(days)[:20]} does not equal the embargo {split['embargo']} in days")
    if windows is not None and not found:
        found.extend(_time_problems(split, windows, int(gap.value)))
    return found


def _coverage_problems(split: dict[str, Any], n_rows: int) -> list[str]:
    import numpy as np

    found = []
    seen = np.zeros(n_rows, dtype=np.int64)
    for part in ALL_PARTS:
        seen[rows(split, part)] += 1
    if (seen > 1).any():
        row = int(np.flatnonzero(seen > 1)[0])
        holders = [part for part in ALL_PARTS if row in split[indices_key(part)]]
        found.append(f"row {row} is in more than one part ({', '.join(holders)})")
    if (seen == 0).any():
        missing = np.flatnonzero(seen == 0)
        found.append(f"{missing.size} labeled row(s) are in no part (first: row {int(missing[0])})")
    for part in PARTS:
        if not split[indices_key(part)]:
            found.append(f"the {part} part is empty")
    counts = split["counts"]
    if not isinstance(counts, dict) or any(counts.get(part) != len(split[indices_key(part)]) for part in ALL_PARTS):
        found.append("counts do not match the index lists")
    return found


def _time_problems(split: dict[str, Any], windows: Any, gap: int) -> list[str]:
    """Purge and embargo on the spans [start, t1]: no train span within the embargo of val/test."""
    from moola.timespans import conflicting_rows, iso, to_nanoseconds

    starts = to_nanoseconds(windows["start"])
    t1s = to_nanoseconds(windows["t1"])
    part_rows = {part: rows(split, part) for part in PARTS}
    found = []
    if split["time_ordered"]:
        for i, earlier in enumerate(PARTS[:-1]):
            last_t1 = int(t1s[part_rows[earlier]].max())
            for later in PARTS[i + 1 :]:
                first_start = int(starts[part_rows[later]].min())
                if first_start <= last_t1 + gap:
                    found.append(
                        f"{later} starts at {iso(first_start)}, not after {earlier}'s last t1 "
                        f"{iso(last_t1)} plus the embargo {split['embargo']}"
                    )
        return found
    pairs: Iterable[tuple[str, str]] = (("train", "val"), ("train", "test"), ("val", "test"))
    for name_a, name_b in pairs:
        a, b = part_rows[name_a], part_rows[name_b]
        hits = conflicting_rows(starts[a], t1s[a], starts[b], t1s[b], gap)
        if hits.any():
            found.append(
                f"{name_a} row {int(a[hits.argmax()])} lies within the embargo {split['embargo']} of a {name_b} span (not purged)"
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
    check(doc, label, n_rows=int(labeled.meta["n"]), fingerprint=labeled.fingerprint, version=labeled.version,
          windows=labeled.windows)
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
        bump=f"set make_splits.name to a new name (e.g. {common.bumped(doc['name'])}) and point synth_cache.split and train.split at it",
    )
    if not unchanged:
        io.write_json(path, doc)
    return path, unchanged


def names(data: Path) -> list[str]:
    """Every split name under data/splits/."""
    folder = Path(data) / layout.SPLITS
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(layout.SPLIT_SUFFIX)] for p in folder.glob(f"*{layout.SPLIT_SUFFIX}") if not p.name.startswith("."))
