"""Pytest fixtures for the local API server.

Import the fixtures into a conftest.py (``from ...pytest_plugin import apiserver, ...``), or
list this module in ``pytest_plugins`` of the top-level conftest.

- ``apiserver``: one server for the whole session (tests use their own namespaces);
- ``kubeconfig_path``: the kubeconfig file written for it;
- ``k8s_api_client``: an official ``kubernetes.client.ApiClient`` bound to it;
- ``fresh_apiserver``: a private server for tests that break things on purpose (faults,
  expired resourceVersions, cut watches).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmservice_testkit.emulator.thread import ServerThread


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    path = tmp_path_factory.mktemp("apiserver") / "kubeconfig"
    with ServerThread(kubeconfig_path=path) as server:
        yield server


@pytest.fixture
def fresh_apiserver(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(kubeconfig_path=tmp_path / "kubeconfig") as server:
        yield server


@pytest.fixture(scope="session")
def kubeconfig_path(apiserver: ServerThread) -> Path:
    assert apiserver.kubeconfig_path is not None
    return apiserver.kubeconfig_path


def api_client_for(server: ServerThread) -> Any:
    """An official kubernetes client bound to ``server`` (not the process-wide default)."""
    import kubernetes

    configuration = kubernetes.client.Configuration()
    configuration.host = server.url
    return kubernetes.client.ApiClient(configuration)


@pytest.fixture(scope="session")
def k8s_api_client(apiserver: ServerThread) -> Iterator[Any]:
    client = api_client_for(apiserver)
    yield client
    client.close()


@pytest.fixture
def namespace(apiserver: ServerThread, k8s_api_client: Any) -> str:
    """A new namespace per test, so tests sharing the session server do not collide."""
    import kubernetes

    name = f"t-{uuid.uuid4().hex[:8]}"
    body = kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name))
    kubernetes.client.CoreV1Api(k8s_api_client).create_namespace(body)
    return name
