"""The code each stage depends on is derived from its imports, and dvc.yaml says exactly that."""

from __future__ import annotations

from pathlib import Path

from moola import cli, codedeps

ROOT = Path(__file__).resolve().parents[1]

# pretrain_ts2vec's code deps as they were kept by hand before they were derived: the encoder's
# input is defined in data/normalise.py, which the list forgot, so a change of the
# normalisation left a stale encoder that `dvc status` called up to date.
HAND_KEPT_PRETRAIN_DEPS = [
    "src/moola/pretrain",
    "src/moola/models/encoders.py",
    "src/moola/data/registry.py",
    "src/moola/data/splits.py",
    "src/moola/stages/pretrain_ts2vec.py",
]


def test_dvc_yaml_deps_are_the_derived_ones(capsys):
    assert codedeps.problems((ROOT / "dvc.yaml").read_text(encoding="utf-8")) == []


def test_the_hand_kept_list_is_caught_missing_the_normalisation():
    missing = codedeps.uncovered(codedeps.stage_files("pretrain_ts2vec"), HAND_KEPT_PRETRAIN_DEPS)
    assert "src/moola/data/normalise.py" in missing


def test_a_drifted_dvc_yaml_is_refused_and_rewritten(tmp_path, monkeypatch, capsys):
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    drifted = text.replace("    - src/moola/data/normalise.py\n", "", 1)
    (tmp_path / "dvc.yaml").write_text(drifted)
    (tmp_path / "params.yaml").write_text("base:\n  seed: 1\n")
    monkeypatch.setenv("MOOLA_ROOT", str(tmp_path))
    assert cli.main(["deps", "--check"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "src/moola/data/normalise.py" in err and "moola deps --write" in err
    assert cli.main(["deps", "--write"]) == 0
    assert (tmp_path / "dvc.yaml").read_text() == text


def test_imports_inside_functions_and_registry_strings_count():
    train = codedeps.stage_code("train")
    assert "moola.training.trainer" in train  # imported inside stages.train.run
    assert "moola.models.simple_lstm" in train  # named as a string in the model registry
    assert "moola.stages.evaluate" not in train and "moola.remote.pod" not in train  # named by cli's table only


def test_code_version_follows_the_stage_code():
    one = codedeps.code_version("make_splits")
    assert one == codedeps.code_version("make_splits") and len(one["code_sha256"]) == 64
    assert one != codedeps.code_version("train")
