"""Options shared by the whole suite (pytest only reads options from top-level conftests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start a real node of their own run first: a machine runs one real node
    at a time, and the session's shared one (``real_node_cluster``) lives until the end."""
    items.sort(key=lambda item: item.get_closest_marker("own_real_node") is None)


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real control plane of the session (``llmservice_testkit.cluster``), started on
    first use and shared by tests/cluster and tests/e2e; skips, saying why, without Go."""
    from llmservice_testkit.cluster.session import start_session

    yield from start_session(tmp_path_factory.mktemp("real-cluster"), ROOT)


@pytest.fixture(scope="session")
def real_node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second real control plane with one real node (containerd, runc, kubelet,
    kube-proxy on this host) and the test kit's busybox image loaded; shared by the tests
    that need pods that really run. Skips, saying why, where the machine cannot run it
    (not root, containerd, runc, the CNI plugins or buildah missing, no Go)."""
    from llmservice_testkit.cluster import NodeUnavailable, host, nodeimages
    from llmservice_testkit.cluster.session import start_real_node_session

    try:
        host.require()
        busybox = nodeimages.busybox()
    except NodeUnavailable as exc:
        pytest.skip(f"no real node here: {exc}")
    yield from start_real_node_session(
        tmp_path_factory.mktemp("real-node"), ROOT, images=[busybox.path]
    )
