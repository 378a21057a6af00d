"""Fuzzed checkpoints: `moola evaluate` refuses every crafted checkpoint in one line, changing nothing.

Each example starts from the checkpoint of a real run, breaks its structure (not a mapping,
another format, a field missing or of another type, a list or strings as the state dict, tensors
missing, extra or of another shape, a scaler of the wrong shape or with non-finite values, an
unknown or resized model config, class names that do not fit, nesting deeper than 32, another
run id) and saves it with `torch.save` as fold 0's checkpoint. The training record's
`checkpoint_sha256["fold_0.pt"]` is set to the crafted file's hash, so the checks behind the
hash check are reached.
"""

from __future__ import annotations

import copy
import json

import pytest
from fuzz_project import check_refused, copy_template, fuzz_settings, snapshot, trained_template
from hypothesis import given
from hypothesis import strategies as st

EXAMPLES = 300
MODEL = "enhanced_simple_lstm"
CHECKPOINT = f"artifacts/models/{MODEL}/fold_0.pt"
RECORD = f"artifacts/models/{MODEL}/record.json"
FIELDS = ("format", "model_name", "model_config", "state_dict", "scaler", "class_names", "encoder_config", "data")
SCALER = ("ohlc_mean", "ohlc_std", "feats_mean", "feats_std")

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_json_like = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_shapes = st.lists(st.integers(min_value=0, max_value=5), min_size=0, max_size=3).map(tuple)


def _tensor(shape, fill: float = 0.5):
    import torch

    return torch.full(shape, fill)


def _not_a(kind: type) -> st.SearchStrategy:
    return st.one_of(
        _scalars, st.lists(_json_like, max_size=3), st.dictionaries(st.text(max_size=5), _json_like, max_size=3)
    ).filter(lambda v: not isinstance(v, kind))


@st.composite
def broken_checkpoint(draw, good: dict):
    """A checkpoint object `moola evaluate` must refuse (to be saved with torch.save)."""
    doc = copy.copy(good)
    doc["state_dict"] = dict(good["state_dict"])
    doc["scaler"] = dict(good["scaler"])
    doc["model_config"] = copy.deepcopy(good["model_config"])
    kind = draw(
        st.sampled_from(
            [
                "not_a_mapping",
                "format",
                "missing_field",
                "field_type",
                "state_dict_list",
                "state_dict_strings",
                "tensor_missing",
                "tensor_extra",
                "tensor_shape",
                "scaler_shape",
                "scaler_value",
                "scaler_entry",
                "config_unknown",
                "config_type",
                "config_resized",
                "class_names",
                "deep",
                "run_id",
                "model_name",
            ]
        )
    )
    if kind == "not_a_mapping":
        return draw(
            st.one_of(
                st.lists(_json_like, max_size=3),
                _scalars,
                _shapes.map(_tensor),
                st.just(list(good["state_dict"].values())),
            )
        )
    if kind == "format":
        doc["format"] = draw(_json_like.filter(lambda v: v != good["format"]))
    elif kind == "missing_field":
        for name in draw(st.lists(st.sampled_from(FIELDS[1:]), min_size=1, max_size=3, unique=True)):
            del doc[name]
    elif kind == "field_type":
        name = draw(st.sampled_from(FIELDS[1:]))
        kinds = {"model_name": str, "class_names": list, "encoder_config": (dict, type(None))}
        doc[name] = draw(_not_a(kinds.get(name, dict)))
    elif kind == "state_dict_list":
        doc["state_dict"] = draw(
            st.sampled_from(
                [list(good["state_dict"].values()), list(good["state_dict"].items()), list(good["state_dict"])]
            )
        )
    elif kind == "state_dict_strings":
        for name in draw(st.lists(st.sampled_from(sorted(good["state_dict"])), min_size=1, max_size=3, unique=True)):
            doc["state_dict"][name] = draw(
                st.one_of(st.text(max_size=10), st.integers(), st.lists(st.floats(allow_nan=False), max_size=3))
            )
    elif kind == "tensor_missing":
        for name in draw(st.lists(st.sampled_from(sorted(good["state_dict"])), min_size=1, max_size=3, unique=True)):
            del doc["state_dict"][name]
    elif kind == "tensor_extra":
        name = draw(st.text(min_size=1, max_size=20).filter(lambda n: n not in good["state_dict"]))
        doc["state_dict"][name] = _tensor(draw(_shapes))
    elif kind == "tensor_shape":
        name = draw(st.sampled_from(sorted(good["state_dict"])))
        shape = draw(_shapes.filter(lambda s: s != tuple(good["state_dict"][name].shape)))
        doc["state_dict"][name] = _tensor(shape)
    elif kind == "scaler_shape":
        name = draw(st.sampled_from(SCALER))
        shape = draw(_shapes.filter(lambda s: s != tuple(good["scaler"][name].shape)))
        doc["scaler"][name] = _tensor(shape, 1.0)
    elif kind == "scaler_value":
        name = draw(st.sampled_from(SCALER))
        bad = draw(
            st.sampled_from([float("nan"), float("inf"), float("-inf")] + ([0.0, -1.0] if name.endswith("std") else []))
        )
        tensor = good["scaler"][name].clone()
        tensor[draw(st.integers(min_value=0, max_value=tensor.shape[0] - 1))] = bad
        doc["scaler"][name] = tensor
    elif kind == "scaler_entry":
        name = draw(st.sampled_from(SCALER))
        if draw(st.booleans()):
            del doc["scaler"][name]
        else:
            doc["scaler"][name] = draw(
                st.one_of(st.text(max_size=10), st.lists(st.floats(allow_nan=False), max_size=5), st.none())
            )
    elif kind == "config_unknown":
        doc["model_config"][draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in good["model_config"]))] = (
            draw(_scalars)
        )
    elif kind == "config_type":
        key = draw(st.sampled_from(sorted(good["model_config"])))
        original = good["model_config"][key]
        doc["model_config"][key] = draw(
            st.one_of(
                st.text(max_size=10),
                st.lists(st.integers(), max_size=2),
                st.none(),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
            ).filter(lambda v: type(v) is not type(original))
        )
    elif kind == "config_resized":
        sizes = sorted(
            k
            for k, v in good["model_config"].items()
            if isinstance(v, int) and not isinstance(v, bool) and "hidden" in k
        )
        key = draw(st.sampled_from(sizes))
        doc["model_config"][key] = draw(
            st.integers(min_value=1, max_value=64).filter(lambda n: n != good["model_config"][key])
        )
    elif kind == "class_names":
        n = len(good["class_names"])
        doc["class_names"] = draw(
            st.one_of(
                st.lists(st.text(min_size=1, max_size=8), max_size=6, unique=True).filter(
                    lambda names: len(names) != n
                ),
                st.lists(st.one_of(st.integers(), st.none()), min_size=2, max_size=4),
            )
        )
    elif kind == "deep":
        value = draw(_scalars)
        for _ in range(draw(st.integers(min_value=33, max_value=300))):
            value = {"k": value} if draw(st.booleans()) else [value]
        doc[draw(st.sampled_from(["model_config", "data"]))]["deep"] = value
    elif kind == "run_id":
        doc["run_id"] = draw(
            st.one_of(st.text(max_size=20), st.integers(), st.none()).filter(lambda r: r != good.get("run_id"))
        )
    else:  # model_name
        doc["model_name"] = draw(st.text(max_size=30).filter(lambda n: n != good["model_name"]))
    return doc


@pytest.fixture(scope="module")
def fuzz_root(_data_stages_template, tmp_path_factory, project_context):
    template = trained_template(_data_stages_template, tmp_path_factory, project_context)
    return copy_template(template, tmp_path_factory.mktemp("fuzz_checkpoints") / "project")


@pytest.mark.slow
def test_fuzzed_checkpoints_are_refused_cleanly(fuzz_root, project_context):
    import torch

    from moola.io import sha256_file

    checkpoint, record = fuzz_root / CHECKPOINT, fuzz_root / RECORD
    good_bytes, record_bytes = checkpoint.read_bytes(), record.read_bytes()
    good = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert any("hidden" in key for key in good["model_config"]), good["model_config"]

    def restore():
        checkpoint.write_bytes(good_bytes)
        record.write_bytes(record_bytes)

    @fuzz_settings(EXAMPLES)
    @given(doc=broken_checkpoint(good))
    def refused(doc):
        torch.save(doc, checkpoint)
        document = json.loads(record_bytes)
        document["checkpoint_sha256"]["fold_0.pt"] = sha256_file(checkpoint)
        record.write_text(json.dumps(document, indent=2), encoding="utf-8")
        check_refused(fuzz_root, ["evaluate"], project_context, snapshot(fuzz_root), restore)

    refused()
