"""A real Kubernetes control plane for the tests, with simulated nodes.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real programs,
built from the ``k8s.io/kubernetes`` Go module in the repository's ``cluster/`` folder
(:mod:`.build`); only the kubelet is played, by :mod:`.nodes`. ReplicaSets, scheduling,
the HPA controller, garbage collection, RBAC and Pod Security admission are Kubernetes' own.

    with LocalCluster(nodes=2) as cluster:
        cluster.admin_kubeconfig   # a kubeconfig for kubectl, kopf and the official client

``python -m llmservice_testkit cluster --kubeconfig FILE`` runs one by hand.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from llmservice_testkit.cluster.build import BuildFailed, BuildUnavailable
from llmservice_testkit.cluster.controlplane import ControlPlane
from llmservice_testkit.cluster.nodes import NodeAgent, NodeShape

__all__ = ["BuildFailed", "BuildUnavailable", "ControlPlane", "LocalCluster", "NodeShape"]


class LocalCluster:
    """The control plane and its nodes, started and stopped together."""

    def __init__(
        self,
        nodes: int = 1,
        *,
        shape: NodeShape | None = None,
        ready_delay: float = 1.0,
        hpa_sync_seconds: float = 5.0,
        workdir: Path | None = None,
    ) -> None:
        names = [f"node-{i}" for i in range(nodes)]
        self.control_plane = ControlPlane(names, workdir=workdir, hpa_sync_seconds=hpa_sync_seconds)
        self.shape = shape
        self.ready_delay = ready_delay
        self.agent: NodeAgent | None = None

    @property
    def url(self) -> str:
        return self.control_plane.url

    @property
    def admin_kubeconfig(self) -> Path:
        return self.control_plane.admin_kubeconfig

    def start(self) -> LocalCluster:
        cp = self.control_plane.start()
        try:
            tokens = {name: user.token for name, user in cp.pki.nodes.items()}
            if tokens:
                self.agent = NodeAgent(
                    cp.url,
                    str(cp.pki.ca_cert),
                    tokens,
                    shape=self.shape,
                    ready_delay=self.ready_delay,
                ).start()
        except BaseException:
            cp.stop()
            raise
        return self

    def stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None
        self.control_plane.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
