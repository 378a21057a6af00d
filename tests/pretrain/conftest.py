"""Fixtures for the pretraining tests: a tiny project with unlabeled windows and a split."""

from __future__ import annotations

import pytest
from pretrain_data import write_labeled_and_split, write_unlabeled


@pytest.fixture
def pretrain_project(tiny_project):
    """tiny_project plus unlabeled windows (T=32), labeled windows and a split; encoder hidden 8."""
    data = tiny_project / "data"
    write_unlabeled(data)
    write_labeled_and_split(data)
    return tiny_project
