"""Fuzzed params.yaml: every generated file is refused by make-splits, synth-cache and train in one line.

Each example starts from the project's good params.yaml and breaks the sections the command
reads, in a way that is wrong by construction (so every example must be refused): a value of
another type than the key's, NaN/inf or integers beyond 64 bits, strings over 4096 characters,
unknown or non-string keys, a key written twice, keys that are lists, deeply nested values, a
section or the whole file that is not a mapping.
"""

from __future__ import annotations

import json
import typing

import pytest
import yaml
from fuzz_project import check_refused, copy_template, fuzz_settings, snapshot, trained_template
from hypothesis import given
from hypothesis import strategies as st

EXAMPLES = 300  # per command


def _section_types() -> dict[str, dict[str, typing.Any]]:
    from moola.params import BaseParams
    from moola.stages.make_splits import MakeSplitsParams
    from moola.stages.synth_cache import SynthCacheParams
    from moola.training.config import TrainParams

    return {
        name: typing.get_type_hints(cls)
        for name, cls in (
            ("base", BaseParams),
            ("make_splits", MakeSplitsParams),
            ("synth_cache", SynthCacheParams),
            ("train", TrainParams),
        )
    }


SECTIONS = _section_types()
# The sections each command reads before it touches any data.
READS = {"make-splits": ("base", "make_splits"), "synth-cache": ("base", "synth_cache"), "train": ("base", "train")}

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
_json_like = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_containers = st.one_of(st.lists(_json_like, max_size=3), st.dictionaries(st.text(max_size=5), _json_like, max_size=3))
_huge_ints = st.one_of(
    st.integers(min_value=2**63, max_value=10**400), st.integers(min_value=-(10**400), max_value=-(2**63) - 1)
)
_non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
_long_text = st.integers(min_value=4097, max_value=300_000).map(lambda n: "x" * n)


def wrong_value(tp: typing.Any) -> st.SearchStrategy:
    """Values that are wrong for a key of annotation `tp`, by construction."""
    if typing.get_origin(tp) is typing.Literal:
        allowed = typing.get_args(tp)
        return st.one_of(st.text(max_size=30).filter(lambda s: s not in allowed), st.integers(), _containers, st.none())
    if tp is bool:
        return st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=10), _containers, st.none())
    if tp is int:
        return st.one_of(
            st.floats(allow_nan=True), st.text(max_size=10), st.booleans(), _containers, st.none(), _huge_ints
        )
    if tp is float:
        return st.one_of(
            _non_finite,
            st.text(max_size=10),
            st.booleans(),
            _containers,
            st.none(),
            st.integers(min_value=10**309, max_value=10**400),
        )
    if tp is str:
        return st.one_of(st.integers(), st.floats(allow_nan=True), st.booleans(), _containers, st.none(), _long_text)
    raise AssertionError(f"no wrong values for {tp}")


def _dump(params: dict) -> str:
    return yaml.safe_dump(params, sort_keys=False, allow_unicode=True, width=10**9)


@st.composite
def broken_params(draw, good: dict, command: str) -> str:
    """A params.yaml text that `command` must refuse."""
    params = json.loads(json.dumps(good))
    section = draw(st.sampled_from(READS[command]))
    kind = draw(
        st.sampled_from(
            [
                "wrong_value",
                "wrong_value",
                "unknown_key",
                "seed_range",
                "not_a_mapping",
                "file_not_a_mapping",
                "duplicate_key",
                "duplicate_section",
                "list_key",
                "deep_value",
                "deep_text",
                "long_key",
                "model_name",
            ]
        )
    )
    if kind == "wrong_value":
        key = draw(st.sampled_from(sorted(SECTIONS[section])))
        params[section][key] = draw(wrong_value(SECTIONS[section][key]))
        return _dump(params)
    if kind == "unknown_key":
        keys = draw(
            st.lists(
                st.one_of(st.text(min_size=1, max_size=30), st.integers(), st.booleans(), st.floats(allow_nan=False)),
                min_size=1,
                max_size=3,
            ).filter(lambda ks: any(k not in SECTIONS[section] for k in ks))
        )
        for key in keys:
            params[section][key] = draw(_json_like)
        return _dump(params)
    if kind == "seed_range":
        params["base"]["seed"] = draw(
            st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32, max_value=2**63 - 1))
        )
        return _dump(params)
    if kind == "not_a_mapping":
        params[section] = draw(st.one_of(st.lists(_json_like, max_size=3), _scalars.filter(lambda v: v is not None)))
        return _dump(params)
    if kind == "file_not_a_mapping":
        return _dump(
            draw(
                st.one_of(st.lists(_json_like, min_size=1, max_size=3), st.integers(), st.text(min_size=1, max_size=20))
            )
        )
    if kind in ("duplicate_key", "duplicate_section"):
        key = draw(st.sampled_from(sorted(params[section])))
        text = _dump(params)
        if kind == "duplicate_section":
            return text + _dump({section: {key: draw(_json_like)}})
        lines = text.splitlines()
        at = lines.index(f"{section}:")
        lines.insert(at + 1, f"  {key}: {json.dumps(draw(st.integers() | st.text(max_size=10)))}")
        return "\n".join(lines) + "\n"
    if kind == "list_key":
        text = _dump(params)
        lines = text.splitlines()
        at = lines.index(f"{section}:")
        lines.insert(at + 1, f"  ? {json.dumps(draw(st.lists(st.integers(), min_size=1, max_size=3)))}\n  : 1")
        return "\n".join(lines) + "\n"
    if kind == "deep_value":
        key = draw(st.sampled_from(sorted(SECTIONS[section])))
        depth = draw(st.integers(min_value=2, max_value=60))
        value: typing.Any = draw(_scalars)
        for _ in range(depth):
            value = [value] if draw(st.booleans()) else {"k": value}
        params[section][key] = value
        return _dump(params)
    if kind == "deep_text":
        key = draw(st.sampled_from(sorted(SECTIONS[section])))
        depth = draw(st.integers(min_value=100, max_value=20_000))
        opening, closing = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        lines = _dump(params).splitlines()
        at = lines.index(f"{section}:")
        lines = [line for line in lines if not line.startswith(f"  {key}:")]
        lines.insert(at + 1, f"  {key}: {opening * depth}1{closing * depth}")
        return "\n".join(lines) + "\n"
    if kind == "long_key":
        params[section]["k" * draw(st.integers(min_value=100, max_value=100_000))] = 1
        return _dump(params)
    # model_name: the model key is read by train only; elsewhere break the section instead
    if command == "train":
        params["model"] = draw(
            st.one_of(
                st.text(max_size=40).filter(lambda s: s not in _model_names()), st.integers(), _containers, st.none()
            )
        )
    else:
        params[section] = draw(st.integers())
    return _dump(params)


def _model_names() -> set[str]:
    from moola.models.registry import ModelRegistry

    return set(ModelRegistry.names())


@pytest.fixture(scope="module")
def fuzz_root(_data_stages_template, tmp_path_factory, project_context):
    template = trained_template(_data_stages_template, tmp_path_factory, project_context)
    return copy_template(template, tmp_path_factory.mktemp("fuzz_params") / "project")


def _fuzz(command: str, fuzz_root, project_context):
    params_file = fuzz_root / "params.yaml"
    good_text = params_file.read_text(encoding="utf-8")
    good = yaml.safe_load(good_text)
    before = snapshot(fuzz_root)

    @fuzz_settings(EXAMPLES)
    @given(text=broken_params(good, command))
    def refused(text):
        params_file.write_text(text, encoding="utf-8")
        check_refused(
            fuzz_root,
            [command],
            project_context,
            before,
            restore=lambda: params_file.write_text(good_text, encoding="utf-8"),
        )

    refused()


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(READS))
def test_fuzzed_params_are_refused_cleanly(command, fuzz_root, project_context):
    _fuzz(command, fuzz_root, project_context)
