"""The real control plane with the test metrics API, as a pytest session uses it: its own
:class:`~llmservice_testkit.cluster.LocalCluster` (two simulated nodes), prepared like the
main session's (the CRD, the operator's namespace, ServiceAccount and ClusterRole, a
token for it), plus :class:`MetricsAPI` registered in it.

A control plane of its own rather than the shared one: once ``metrics.k8s.io`` is served,
every HPA in the cluster gets metrics (or "no metrics returned") instead of "the server
could not find the requested resource", and the other tests' expectations stay as they
were written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmservice_testkit.cluster import BuildUnavailable, LocalCluster
from llmservice_testkit.cluster.session import KUBECTL, RealSession, prepare
from llmservice_testkit.metricsapi import netns
from llmservice_testkit.metricsapi.running import MetricsAPI


@dataclass
class MetricsSession:
    """``real``: the prepared control plane (kubectl, clients, audit log);
    ``metrics``: the handle that sets what pods report."""

    real: RealSession
    metrics: MetricsAPI


def start_metrics_session(
    workdir: Path, root: Path, *, hpa_sync_seconds: float = 5.0
) -> Iterator[MetricsSession]:
    """Yield a started, prepared session; skip, saying why, where kubectl, root, ``ip``
    or the Kubernetes build is missing."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (the real-control-plane tests drive it with kubectl)")
    try:
        netns.require()
    except netns.NamespaceUnavailable as exc:
        pytest.skip(f"no test metrics API here: {exc}")
    try:
        cluster = LocalCluster(nodes=2, ready_delay=1.0, hpa_sync_seconds=hpa_sync_seconds).start()
    except BuildUnavailable as exc:
        pytest.skip(f"no real control plane here: {exc}")
    try:
        real = prepare(cluster, workdir, root)
        with MetricsAPI(cluster.control_plane) as metrics:
            yield MetricsSession(real, metrics)
    finally:
        cluster.stop()
