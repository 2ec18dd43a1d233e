"""The notebooks' lab fixture, shared with tests/notebooks (one lab per test process)."""

from tests.notebooks.conftest import nb_lab

__all__ = ["nb_lab"]
