"""Strict params sections and safe path resolution."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from moola import params as params_mod
from moola.errors import MoolaError
from moola.paths import resolve_inside

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Example:
    size: int = 4
    rate: float = 0.5
    name: str = "x"
    mode: Literal["a", "b"] = "a"
    phases: list[int] = dataclasses.field(default_factory=lambda: [1, 2])

    def validate(self):
        params_mod.require(self.size > 0, "example.size", f"must be > 0, got {self.size}")


def test_defaults_and_int_for_float():
    obj = params_mod.from_mapping(Example, {"rate": 1}, "example")
    assert obj.rate == 1.0 and isinstance(obj.rate, float) and obj.size == 4


@pytest.mark.parametrize(
    "mapping, fragment",
    [
        ({"sise": 3}, "unknown params key example.sise"),
        ({"size": "3"}, "example.size must be an integer"),
        ({"size": True}, "example.size must be an integer"),
        ({"rate": "fast"}, "example.rate must be a number"),
        ({"mode": "c"}, "example.mode = 'c' is not allowed"),
        ({"phases": [1, "x"]}, r"example.phases\[1\] must be an integer"),
        ({"phases": 3}, "example.phases must be a list"),
        ({"size": -1}, "example.size: must be > 0"),
    ],
)
def test_bad_values_fail_with_the_key_name(mapping, fragment):
    with pytest.raises(MoolaError, match=fragment):
        params_mod.from_mapping(Example, mapping, "example")


def test_repo_params_file_parses_and_base_is_valid():
    data = params_mod.load_params(REPO / "params.yaml")
    base = params_mod.load_base(data)
    assert base.device in ("auto", "cpu", "cuda")


def test_malformed_yaml_is_one_line_error(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("base:\n  seed: [1,\n")
    with pytest.raises(MoolaError, match="not valid YAML"):
        params_mod.load_params(bad)


def test_yaml_tags_are_refused(tmp_path):
    # safe_load refuses python object tags: nothing from a params file can run code
    bad = tmp_path / "params.yaml"
    bad.write_text("base: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(MoolaError):
        params_mod.load_params(bad)


@pytest.mark.parametrize("name", ["../secrets", "/etc/passwd", "a/../../b", "", " v1"])
def test_resolve_inside_refuses_escape(tmp_path, name):
    with pytest.raises(MoolaError):
        resolve_inside(tmp_path, name, "dataset")


def test_resolve_inside_refuses_symlink_escape(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "link").symlink_to(tmp_path.parent)
    with pytest.raises(MoolaError, match="outside"):
        resolve_inside(tmp_path / "data", "link/x", "dataset")


def test_resolve_inside_accepts_plain_names(tmp_path):
    assert resolve_inside(tmp_path, "labeled_windows/v1", "dataset") == (tmp_path / "labeled_windows" / "v1").resolve()


@pytest.mark.parametrize("name", ["labels.csv", "data/raw/labels.csv", "hand/labels.csv", "raw"])
def test_a_labels_file_outside_data_raw_is_refused(name):
    # data/raw is what dvc.yaml makes build_windows depend on: a file elsewhere could go stale unseen
    import yaml

    stage = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["build_windows"]
    assert "data/raw" in stage["deps"]
    section = params_mod.BuildWindowsParams(labels="file", labels_file=name)
    with pytest.raises(
        MoolaError,
        match=r"build_windows.labels_file: .* lies outside data/raw/, .* stale: move it into "
        r"data/raw/ and set labels_file: raw/",
    ):
        section.validate()
    params_mod.BuildWindowsParams(labels="file", labels_file="raw/hand/labels.csv").validate()
