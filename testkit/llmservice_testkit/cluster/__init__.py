"""A real Kubernetes control plane for the tests, with simulated nodes and, on request, a
real one.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real programs,
built from the ``k8s.io/kubernetes`` Go module in the repository's ``cluster/`` folder
(:mod:`.build`); simulated nodes play only the kubelet (:mod:`.nodes`). ReplicaSets,
scheduling, the HPA controller, garbage collection, RBAC and Pod Security admission are
Kubernetes' own. A real node (:mod:`.realnode`: containerd, runc, the CNI bridge, kubelet
and kube-proxy) runs pods for real, on machines where it can (root, cgroups, the programs).

    with LocalCluster(nodes=2) as cluster:
        cluster.admin_kubeconfig   # a kubeconfig for kubectl, kopf and the official client
    with LocalCluster(nodes=0, real_node=True, images=[Path("app.tar")]) as cluster:
        cluster.real_node.address  # the node's address: NodePorts are served there

``python -m llmservice_testkit cluster --kubeconfig FILE [--real-node]`` runs one by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from llmservice_testkit.cluster import host, nodeimages
from llmservice_testkit.cluster.build import BuildFailed, BuildUnavailable
from llmservice_testkit.cluster.controlplane import ControlPlane
from llmservice_testkit.cluster.host import NodeUnavailable
from llmservice_testkit.cluster.nodes import NodeAgent, NodeShape
from llmservice_testkit.cluster.realnode import NAME as REAL_NODE_NAME
from llmservice_testkit.cluster.realnode import RealNode, StopReport

__all__ = [
    "BuildFailed",
    "BuildUnavailable",
    "ControlPlane",
    "LocalCluster",
    "NodeShape",
    "NodeUnavailable",
    "RealNode",
]


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
        real_node: bool = False,
        images: Sequence[Path] = (),
        pause: Path | None = None,
    ) -> None:
        """``real_node``: add a real node (``real-node``) with ``images`` (archives)
        loaded into its runtime; the API server then also serves on this host's address.
        ``pause``: the archive of its sandbox image (default: the test kit's pause image)."""
        self.simulated = [f"node-{i}" for i in range(nodes)]
        self.want_real_node = real_node
        self.images = list(images)
        self.pause = nodeimages.from_archive(pause) if pause else None
        names = [*self.simulated, REAL_NODE_NAME] if real_node else self.simulated
        self.control_plane = ControlPlane(names, workdir=workdir, hpa_sync_seconds=hpa_sync_seconds)
        self.shape = shape
        self.ready_delay = ready_delay
        self.agent: NodeAgent | None = None
        self.real_node: RealNode | None = None
        self.node_report: StopReport | None = None  # the real node's last stop

    @property
    def url(self) -> str:
        return self.control_plane.url

    @property
    def admin_kubeconfig(self) -> Path:
        return self.control_plane.admin_kubeconfig

    def start(self) -> LocalCluster:
        if self.want_real_node:
            # Said before anything starts: a machine that cannot run it fails in a second.
            try:
                host.require()
                self.control_plane.host_ip = host.host_ip()
            except BaseException:
                self.control_plane.stop()  # removes the folder it made
                raise
        cp = self.control_plane.start()
        try:
            tokens = {name: cp.pki.nodes[name].token for name in self.simulated}
            if tokens:
                self.agent = NodeAgent(
                    cp.url,
                    str(cp.pki.ca_cert),
                    tokens,
                    shape=self.shape,
                    ready_delay=self.ready_delay,
                ).start()
            if self.want_real_node:
                self.real_node = RealNode(cp, images=self.images, pause=self.pause).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.real_node is not None:
            self.node_report = self.real_node.stop()
            self.real_node = None
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
