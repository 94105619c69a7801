"""Fixtures of the real-control-plane tests; the session's control plane is the
``real_cluster`` fixture of tests/conftest.py (shared with tests/e2e)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from realcluster import ROOT, Cluster, Operator, Real, make_namespace, operator_in


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


@pytest.fixture(scope="session")
def metrics_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A control plane of its own with the test metrics API registered
    (``llmservice_testkit.metricsapi``): ``metrics_cluster.real`` (a ``RealSession``, CRD
    and operator identity installed) and ``metrics_cluster.metrics`` (``set``, ``unset``,
    ``clear``, ``calls``). Skips, saying why, without root, ``ip``, kubectl or the build."""
    from llmservice_testkit.metricsapi.session import start_metrics_session

    yield from start_metrics_session(tmp_path_factory.mktemp("metrics-cluster"), ROOT)


@pytest.fixture
def metrics_namespace(metrics_cluster: Any) -> Iterator[str]:
    """A namespace per test on the metrics cluster; its metric values are forgotten after."""
    api = metrics_cluster.real.api_client()
    namespaces = make_namespace(metrics_cluster.real, api)
    name = next(namespaces)
    try:
        yield name
    finally:
        metrics_cluster.metrics.clear(name)
        namespaces.close()  # deletes it
        api.close()


@pytest.fixture
def metrics_operator(
    metrics_cluster: Any, metrics_namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    """The operator process on the metrics cluster, watching ``metrics_namespace``."""
    log = tmp_path / "operator.log"
    with operator_in(metrics_cluster.real, [metrics_namespace], log) as op:
        yield op
