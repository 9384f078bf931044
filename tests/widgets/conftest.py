"""Fixtures of the widget tests: a project holding one sandstone slice."""

import pytest

import microlab
from microlab.project import Project


@pytest.fixture
def sandstone_project(tmp_path):
    """A project of one 512 × 512 sandstone slice and the four sandstone classes."""
    project = Project(tmp_path / "sand", classes=microlab.data.SANDSTONE_CLASSES)
    project.add_image(microlab.data.sandstone(0)[0])
    yield project
    project.close()
