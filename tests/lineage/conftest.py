"""A tiny project after the whole pipeline (train + evaluate), built once per module, copied per test."""

from __future__ import annotations

import shutil

import pytest

from moola import cli

OUTPUT_FOLDERS = ("data", "artifacts", "plots", "metrics")


@pytest.fixture(scope="module")
def _evaluated_template(_data_stages_template, project_context, tmp_path_factory):
    project = tmp_path_factory.mktemp("evaluated") / "project"
    shutil.copytree(_data_stages_template, project)
    with project_context(project):
        assert cli.main(["train"]) == 0
        assert cli.main(["evaluate"]) == 0
    return project


@pytest.fixture
def evaluated_project(tiny_project, _evaluated_template):
    """tiny_project after every stage, train and evaluate included (a private copy per test)."""
    for folder in OUTPUT_FOLDERS:
        shutil.copytree(_evaluated_template / folder, tiny_project / folder, dirs_exist_ok=True)
    return tiny_project
