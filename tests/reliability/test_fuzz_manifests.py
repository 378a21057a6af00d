"""Fuzzed run manifests: `moola audit <manifest>` refuses every generated one in one line, changing nothing.

Each example starts from the manifest of a real run and breaks it in a way that is wrong by
construction: not a mapping, another format, a block missing or of another type, strings where
mappings go, deep nesting, an input without a sound sha256 or with another file's hash, a path
outside the project, a named path without a hash. The manifest is written beside the project's
folders, so the snapshot of data/, artifacts/, metrics/ and plots/ is the same before every example.
"""

from __future__ import annotations

import copy
import json

import pytest
from fuzz_project import check_refused, copy_template, fuzz_settings, snapshot, trained_template
from hypothesis import given
from hypothesis import strategies as st

EXAMPLES = 300
MANIFEST = "artifacts/runs/latest/manifest.json"
FUZZED = "fuzzed_manifest.json"
BLOCKS = ("format", "run_id", "inputs", "paths", "data", "model", "metrics", "params", "training")

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_json_like = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_hex = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
_bad_sha = st.one_of(
    _hex.map(str.upper).filter(lambda s: any(c.isalpha() for c in s)),
    st.text(max_size=70).filter(lambda s: len(s) != 64),
    st.integers(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
_outside = st.one_of(
    st.just("../outside.txt"),
    st.just("/etc/hostname"),
    st.text(min_size=1, max_size=20).map(lambda s: "../" + s),
    st.sampled_from(["data/../../x", "/", "..", "artifacts/../../../etc/passwd"]),
)


def _wrong_type(kind: type) -> st.SearchStrategy:
    others = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=20),
        st.lists(_json_like, max_size=3),
        st.dictionaries(st.text(max_size=5), _json_like, max_size=3),
    )
    return others.filter(lambda v: not isinstance(v, kind) or isinstance(v, bool))


@st.composite
def broken_manifest(draw, good: dict) -> str:
    """The text of a manifest that `moola audit` must refuse."""
    manifest = copy.deepcopy(good)
    kind = draw(
        st.sampled_from(
            [
                "not_a_mapping",
                "format",
                "missing_block",
                "block_type",
                "deep",
                "deep_text",
                "bad_sha",
                "other_sha",
                "outside_path",
                "unhashed_path",
                "path_type",
                "entry_type",
                "drop_input",
                "not_json",
            ]
        )
    )
    if kind == "not_a_mapping":
        return json.dumps(draw(st.one_of(st.lists(_json_like, max_size=3), _scalars)))
    if kind == "format":
        manifest["format"] = draw(_json_like.filter(lambda v: v != good["format"]))
    elif kind == "missing_block":
        for block in draw(st.lists(st.sampled_from(BLOCKS[1:]), min_size=1, max_size=3, unique=True)):
            del manifest[block]
    elif kind == "block_type":
        block = draw(st.sampled_from(BLOCKS[1:]))
        manifest[block] = draw(_wrong_type(str if block == "run_id" else dict))
    elif kind == "deep":
        block = draw(st.sampled_from(("data", "model", "metrics", "params", "training")))
        value = draw(_scalars)
        for _ in range(draw(st.integers(min_value=34, max_value=400))):
            value = {"k": value} if draw(st.booleans()) else [value]
        manifest[block][draw(st.text(min_size=1, max_size=5))] = value
    elif kind == "deep_text":
        depth = draw(st.integers(min_value=1_000, max_value=200_000))
        opening, closing = draw(st.sampled_from([("[", "]"), ('{"a": ', "}")]))
        text = json.dumps(manifest)
        return text[:-1] + f', "deep": {opening * depth}1{closing * depth}' + "}"
    elif kind in ("bad_sha", "other_sha", "entry_type"):
        path = draw(st.sampled_from(sorted(manifest["inputs"])))
        if kind == "bad_sha":
            manifest["inputs"][path]["sha256"] = draw(_bad_sha)
        elif kind == "other_sha":
            manifest["inputs"][path]["sha256"] = draw(_hex.filter(lambda h: h != good["inputs"][path]["sha256"]))
        else:
            manifest["inputs"][path] = draw(_wrong_type(dict))
    elif kind == "outside_path":
        where = draw(st.sampled_from(["inputs", "paths"]))
        outside = draw(_outside)
        if where == "inputs":
            manifest["inputs"][outside] = {"role": "labeled", "sha256": draw(_hex)}
        else:
            manifest["paths"][draw(st.sampled_from(sorted(manifest["paths"])))] = outside
            manifest["inputs"][outside] = {"role": "labeled", "sha256": draw(_hex)}
    elif kind == "unhashed_path":
        role = draw(st.sampled_from(sorted(role for role, path in good["paths"].items() if path)))
        manifest["paths"][role] = draw(
            st.text(alphabet="abcdefgh_/", min_size=1, max_size=20).filter(
                lambda p: not any(name == p or name.startswith(p.rstrip("/") + "/") for name in manifest["inputs"])
            )
        )
    elif kind == "path_type":
        role = draw(st.sampled_from(sorted(manifest["paths"])))
        manifest["paths"][role] = draw(
            st.one_of(
                st.integers(),
                st.booleans(),
                st.lists(st.text(max_size=5), max_size=2),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
            )
        )
    elif kind == "drop_input":
        role = draw(st.sampled_from(sorted(role for role, path in good["paths"].items() if path)))
        path = good["paths"][role]
        manifest["inputs"] = {
            name: entry
            for name, entry in manifest["inputs"].items()
            if not (name == path or name.startswith(path.rstrip("/") + "/"))
        }
    else:  # not_json
        text = json.dumps(manifest)
        cut = draw(st.integers(min_value=0, max_value=len(text) - 1))
        return text[:cut] + draw(st.sampled_from(["", "}", "{", "\x00", "]]"]))
    return json.dumps(manifest)


@pytest.fixture(scope="module")
def fuzz_root(_data_stages_template, tmp_path_factory, project_context):
    template = trained_template(_data_stages_template, tmp_path_factory, project_context)
    return copy_template(template, tmp_path_factory.mktemp("fuzz_manifests") / "project")


@pytest.mark.slow
def test_fuzzed_manifests_are_refused_cleanly(fuzz_root, project_context):
    good = json.loads((fuzz_root / MANIFEST).read_text(encoding="utf-8"))
    assert good["paths"] and good["inputs"], "the template run wrote a manifest without paths or inputs"
    target = fuzz_root / FUZZED
    before = snapshot(fuzz_root)

    @fuzz_settings(EXAMPLES)
    @given(text=broken_manifest(good))
    def refused(text):
        target.write_text(text, encoding="utf-8")
        check_refused(fuzz_root, ["audit", FUZZED], project_context, before, restore=lambda: None)
        assert target.read_text(encoding="utf-8") == text, "the audit changed the manifest it read"

    refused()


def test_the_good_manifest_passes_the_audit(fuzz_root, project_context):
    """The fuzzer's starting point is sound, so every refusal above is due to the generated fault."""
    from fuzz_project import run_moola

    code, out, err = run_moola(fuzz_root, ["audit", MANIFEST], project_context)
    assert code == 0, out + err
