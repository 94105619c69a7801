"""The e2e session fixture; the environments and helpers are in e2e_helpers.py (a module of
its own name: several conftest.py files share the name ``conftest``)."""

import pytest
from e2e_helpers import e2e, modes  # noqa: F401


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every e2e test runs in each environment of the run (``e2e_helpers.modes``)."""
    if "e2e" in metafunc.fixturenames:
        metafunc.parametrize("e2e_mode", modes(metafunc.config), scope="session")
