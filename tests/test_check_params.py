"""`moola check-params`: every section checked with the stages' own loaders; a constant output."""

from __future__ import annotations

import copy

import pytest
import yaml

from moola import cli
from moola.errors import MoolaError
from moola.stages.check_params import check


def _params(root):
    return yaml.safe_load((root / "params.yaml").read_text())


def test_the_projects_params_pass_and_the_output_never_changes(tiny_project, capsys):
    output = tiny_project / "artifacts/checks/params.json"
    assert cli.main(["check-params"]) == 0
    first = output.read_bytes()
    assert "params.yaml is sound" in capsys.readouterr().out
    params = _params(tiny_project)
    params["train"]["epochs"] = 2  # another valid value: same output bytes, same mtime
    (tiny_project / "params.yaml").write_text(yaml.safe_dump(params))
    stamp = output.stat().st_mtime_ns
    assert cli.main(["check-params"]) == 0
    assert output.read_bytes() == first and output.stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "section, key, value, fragment",
    [
        ("base", "seed", 2**40, "base.seed"),
        ("build_windows", "window", 8, r"window \(8\)"),
        ("make_splits", "embargo", "forever", "make_splits.embargo"),
        ("synth_cache", "ratio", 0, "synth_cache.ratio"),
        ("pretrain_ts2vec", "epochs", 0, "pretrain_ts2vec.epochs"),
        ("encoder", "hidden_size", "big", "encoder.hidden_size"),
        ("train", "lr", "fast", "train.lr"),
        (None, "model", "tcn", "tcn"),
        ("adapter_lstm", "no_such_key", 1, "adapter_lstm.no_such_key"),
        ("evaluate", "alpha", 0.9, "evaluate.alpha"),
        ("pod", "state_upload_minutes", -1, "pod.state_upload_minutes"),
        ("build_windows", "max_gap", "1", "build_windows.max_gap = '1' must be a pandas Timedelta string with a unit"),
        ("make_splits", "strategy", "cpcv", None),  # with n_groups/n_test_groups below: C(20, 10) folds
        (None, "trian", {"epochs": 3}, "unknown section 'trian': did you mean 'train'"),
        (None, "evalute", {"alpha": 0.05}, "unknown section 'evalute': did you mean 'evaluate'"),
    ],
)
def test_a_bad_value_in_any_section_is_refused(tiny_project, section, key, value, fragment):
    params = copy.deepcopy(_params(tiny_project))
    if value == "cpcv":
        params["make_splits"].update(n_groups=20, n_test_groups=10)
        fragment = r"C\(20, 10\) = 184,756 cpcv folds is more than 1,000"
    if section is None:
        params[key] = value
    else:
        params.setdefault(section, {})
        params[section] = dict(params[section] or {}, **{key: value})
    with pytest.raises((MoolaError, ValueError), match=fragment):
        check(params)


def test_a_refusal_writes_nothing(tiny_project, capsys):
    params = _params(tiny_project)
    params["train"]["epochs"] = -3
    (tiny_project / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli.main(["check-params"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["moola check-params: error: params key train.epochs: must be >= 1, got -3"]
    assert not (tiny_project / "artifacts/checks/params.json").exists()


def test_a_yaml_alias_is_refused_before_it_is_expanded(tiny_project, capsys):
    bomb = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + "".join(
        f"{b}: &{b} [*{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=False)
    )
    text = (tiny_project / "params.yaml").read_text()
    (tiny_project / "params.yaml").write_text(text + "lol:\n" + "".join(f"  {line}\n" for line in bomb.splitlines()))
    assert cli.main(["check-params"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "YAML anchor or alias 'a'" in err[0] and "params.yaml line" in err[0]


def test_a_built_version_with_other_params_is_refused_before_any_stage(built_project, capsys):
    params = _params(built_project)
    params["build_windows"]["plot_examples"] = 1  # shapes no window: still the same version
    (built_project / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli.main(["check-params"]) == 0
    params["build_windows"]["barrier_k"] = 3.5
    (built_project / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli.main(["check-params"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data/labeled_windows/v1 already exists with different content" in err[0], err
    assert "barrier_k" in err[0] and "set build_windows.version to a new name (e.g. v2)" in err[0], err
    params["build_windows"]["version"] = "v2"
    (built_project / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli.main(["check-params"]) == 0
