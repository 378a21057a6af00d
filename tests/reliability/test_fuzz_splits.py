"""Fuzzed split files: `moola synth-cache` and `DataRegistry().load_labeled()` refuse every generated one.

Each example starts from the project's real split file and breaks it in a way that is wrong by
construction: not an object, a field missing, an unknown or refused strategy, time_ordered that
disagrees with the strategy, another labeled version or fingerprint, index lists that are not
lists of integers, rows outside the labeled set (huge ones too), unsorted or repeated rows, a row
in two parts or in none, an empty part, wrong counts, a bad embargo or purge_days, a val row moved
into train (inside the embargo), a field replaced by deeply nested lists. The CLI must refuse in one line and change
nothing; the Python API must raise MoolaError (never another exception).
"""

from __future__ import annotations

import copy
import json

import pytest
from fuzz_project import check_refused, copy_template, fuzz_settings, snapshot, trained_template
from hypothesis import given
from hypothesis import strategies as st

from moola.artifacts import split as split_artifact

EXAMPLES = 300
SPLIT = "data/splits/fwd_chain_v3.json"
REQUIRED = (
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
    "counts",
    "time_ranges",
    "created_by",
    "timestamp",
)
PARTS = ("train", "val", "test", "purged", "unused")  # the top-level parts: the last fold's

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_json_like = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def broken_split(draw, good: dict, n_rows: int) -> str:
    """The text of a split file every reader must refuse."""
    split = copy.deepcopy(good)
    kind = draw(
        st.sampled_from(
            [
                "not_an_object",
                "missing_field",
                "strategy",
                "time_ordered",
                "version",
                "fingerprint",
                "not_a_list",
                "not_integers",
                "out_of_range",
                "unsorted",
                "overlap",
                "uncovered",
                "empty_part",
                "counts",
                "embargo",
                "purge_days",
                "inside_embargo",
                "deep_text",
            ]
        )
    )
    if kind == "not_an_object":
        return json.dumps(draw(st.one_of(st.lists(_json_like, max_size=3), _scalars)))
    if kind == "missing_field":
        for name in draw(st.lists(st.sampled_from(REQUIRED), min_size=1, max_size=3, unique=True)):
            del split[name]
    elif kind == "strategy":
        split["strategy"] = draw(
            st.one_of(
                st.sampled_from(["random", "Random", "shuffle", "kfold"]),
                _json_like,
                st.integers(min_value=5000, max_value=100_000).map(lambda n: "s" * n),
            ).filter(lambda s: s not in split_artifact.STRATEGIES)
        )
    elif kind == "time_ordered":
        split["time_ordered"] = draw(_json_like.filter(lambda v: v is not True))
    elif kind == "version":
        split["labeled_version"] = draw(_json_like.filter(lambda v: v != good["labeled_version"]))
    elif kind == "fingerprint":
        split["labeled_fingerprint"] = draw(_json_like.filter(lambda v: v != good["labeled_fingerprint"]))
    else:
        part = draw(st.sampled_from(PARTS))
        key = f"{part}_indices"
        if kind == "not_a_list":
            split[key] = draw(st.one_of(_scalars, st.dictionaries(st.text(max_size=3), st.integers(), max_size=3)))
        elif kind == "not_integers":
            values = list(split[key]) or [0]
            values[draw(st.integers(min_value=0, max_value=len(values) - 1))] = draw(
                st.one_of(
                    st.floats(), st.text(max_size=5), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)
                )
            )
            split[key] = values
        elif kind == "out_of_range":
            split[key] = sorted(
                split[key]
                + [
                    draw(
                        st.one_of(
                            st.integers(min_value=n_rows, max_value=10**30),
                            st.integers(min_value=-(10**30), max_value=-1),
                        )
                    )
                ]
            )
        elif kind == "unsorted":
            values = split[key]
            if len(values) < 2:
                values = values + values if values else [0, 0]
            split[key] = draw(st.permutations(values).filter(lambda p: list(p) != sorted(set(p))))
        elif kind == "overlap":
            other = draw(st.sampled_from([p for p in PARTS if p != part and good[f"{p}_indices"]]))
            row = draw(st.sampled_from(good[f"{other}_indices"]))
            split[key] = sorted(set(split[key]) | {row})
        elif kind == "uncovered":
            if not split[key]:
                part, key = "train", "train_indices"
            split[key] = split[key][:-1]
        elif kind == "empty_part":
            part = draw(st.sampled_from(PARTS[:3]))
            split[f"{part}_indices"] = []
        elif kind == "counts":
            counts = split["counts"]
            split["counts"] = draw(
                st.one_of(
                    _scalars,
                    st.just({**counts, part: counts.get(part, 0) + draw(st.integers(min_value=1, max_value=10**6))}),
                )
            )
        elif kind == "embargo":
            split["embargo"] = draw(
                st.one_of(
                    _scalars.filter(lambda v: v != good["embargo"]),
                    st.sampled_from(["-5D", "999999999D", "5", "NaT", "1e400D", "D" * 100]),
                )
            )
            split["embargo"] = split["embargo"] if split["embargo"] != good["embargo"] else 7
        elif kind == "purge_days":
            split["purge_days"] = draw(
                st.one_of(
                    st.sampled_from([float("nan"), float("inf")]),
                    st.none(),
                    st.booleans(),
                    st.text(max_size=5),
                    st.floats(allow_nan=True).filter(lambda d: not abs(d - good["purge_days"]) <= 1e-6),
                    st.integers(min_value=10**20),
                )
            )
        elif kind == "inside_embargo":
            row = good["val_indices"][0]
            split["val_indices"] = good["val_indices"][1:]
            split["train_indices"] = sorted(good["train_indices"] + [row])
            split["counts"] = {**good["counts"], "train": good["counts"]["train"] + 1, "val": good["counts"]["val"] - 1}
        else:  # deep_text
            depth = draw(st.integers(min_value=1_000, max_value=200_000))
            field = draw(st.sampled_from(REQUIRED))
            text = json.dumps({**split, field: "__deep__"})
            return text.replace('"__deep__"', f"{'[' * depth}1{']' * depth}", 1)
    return json.dumps(split)


@pytest.fixture(scope="module")
def fuzz_root(_data_stages_template, tmp_path_factory, project_context):
    template = trained_template(_data_stages_template, tmp_path_factory, project_context)
    return copy_template(template, tmp_path_factory.mktemp("fuzz_splits") / "project")


@pytest.mark.slow
def test_fuzzed_splits_are_refused_cleanly(fuzz_root, project_context):
    from moola.data.registry import DataRegistry
    from moola.errors import MoolaError

    split_file = fuzz_root / SPLIT
    good_text = split_file.read_text(encoding="utf-8")
    good = json.loads(good_text)
    n_rows = sum(len(good[f"{part}_indices"]) for part in PARTS)
    assert good["strategy"] == "walk_forward" and good["time_ordered"] is True and good["val_indices"]

    @fuzz_settings(EXAMPLES)
    @given(text=broken_split(good, n_rows))
    def refused(text):
        split_file.write_text(text, encoding="utf-8")
        before = snapshot(fuzz_root)
        with project_context(fuzz_root):
            with pytest.raises(MoolaError):
                DataRegistry().load_labeled(version="v1", split_name="fwd_chain_v3")
        check_refused(
            fuzz_root,
            ["synth-cache"],
            project_context,
            before,
            restore=lambda: split_file.write_text(good_text, encoding="utf-8"),
        )

    refused()
