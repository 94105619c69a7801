"""Fixtures of the real-control-plane tests; the session's control plane is the
``real_cluster`` fixture of tests/conftest.py (shared with tests/e2e)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from realcluster import Cluster, Operator, Real, make_namespace, operator_in


@pytest.fixture(scope="session")
def real(real_cluster: Real) -> Real:
    return real_cluster


@pytest.fixture(scope="session")
def admin_api(real: Real) -> Iterator[Any]:
    client = real.api_client()
    yield client
    client.close()


@pytest.fixture
def namespace(real: Real, admin_api: Any) -> Iterator[str]:
    yield from make_namespace(real, admin_api)


@pytest.fixture
def cluster(admin_api: Any, namespace: str) -> Cluster:
    return Cluster(admin_api, namespace)


@pytest.fixture
def operator(real: Real, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    with operator_in(real, [namespace], tmp_path / "operator.log") as op:
        yield op
