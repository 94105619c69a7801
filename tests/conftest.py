"""Options shared by the whole suite (pytest only reads options from top-level conftests)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmservice-operator")
    group.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden render outputs under tests/golden instead of comparing",
    )
    group.addoption(
        "--kubeconfig",
        default=None,
        help="run tests/e2e against this cluster instead of the local API server",
    )
    group.addoption(
        "--kind",
        action="store_true",
        default=False,
        help="run tests/e2e on a kind cluster the tests create (needs Docker and kind)",
    )
