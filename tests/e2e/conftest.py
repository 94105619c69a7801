"""The e2e session fixture; the environments and helpers are in e2e_helpers.py (a module of
its own name: several conftest.py files share the name ``conftest``)."""

from e2e_helpers import e2e  # noqa: F401
