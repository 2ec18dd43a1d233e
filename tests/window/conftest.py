"""The notebooks' lab fixtures, shared with tests/notebooks (one lab per test process, one for the manual CA)."""

from tests.notebooks.conftest import manual_lab, nb_lab

__all__ = ["manual_lab", "nb_lab"]
