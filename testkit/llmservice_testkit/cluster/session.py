"""The real control plane as a pytest session uses it: one :class:`LocalCluster` with two
simulated nodes, the LLMService CRD, and the operator's identity as ``deploy/`` ships it
(namespace, ServiceAccount, ClusterRole), so an operator started with
``operator_kubeconfig`` passes the real RBAC authorizer exactly as in a cluster.

Writes are counted from the API server's audit log (:meth:`RealSession.writes`), the
server's own account of who did what.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from llmservice_testkit.cluster import BuildUnavailable, LocalCluster, NodeUnavailable

KUBECTL = shutil.which("kubectl")
OPERATOR_NAMESPACE = "llmservice-system"
OPERATOR_ACCOUNT = "llmservice-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# How long a step may take on two shared cores (no timing is asserted).
WAIT = 90.0
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except Exception as exc:  # not there yet; a transient API answer
            last = exc
        if last and not isinstance(last, Exception):
            return cast(T, last)
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; last: {last!r}"
            )
        time.sleep(0.25)


@dataclass
class RealSession:
    """A control plane for a test session: kubectl, clients and the audit log's account."""

    cluster: Any  # llmservice_testkit.cluster.LocalCluster
    kubeconfig: Path
    operator_kubeconfig: Path
    workdir: Path

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        stdin: str | None = None,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        if KUBECTL is None:
            pytest.skip("kubectl is not installed")
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig or self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done

    def api_client(self, kubeconfig: Path | None = None) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))  # type: ignore[no-untyped-call]

    # -- the API server's own account of requests (its audit log) ---------------------

    def audit_mark(self) -> int:
        """A position in the audit log: requests after it are counted by the readers below."""
        time.sleep(0.3)  # the last responses' events are written as they complete
        return sum(1 for _ in self.cluster.control_plane.audit_events())

    def audit(self, since: int = 0, user: str = OPERATOR_USER) -> list[dict[str, Any]]:
        time.sleep(0.3)
        return [
            event
            for i, event in enumerate(self.cluster.control_plane.audit_events())
            if i >= since and event.get("user", {}).get("username") == user
        ]

    def write_events(self, since: int = 0, user: str = OPERATOR_USER) -> list[dict[str, Any]]:
        """The audit events of the user's mutating requests since ``since``."""
        return [e for e in self.audit(since, user) if e.get("verb") in WRITE_VERBS]

    def writes(self, since: int = 0, user: str = OPERATOR_USER) -> list[str]:
        """The user's mutating requests since ``since``, as ``VERB resource/name`` lines."""
        return [_describe(event) for event in self.write_events(since, user)]

    def explain_writes(self, since: int = 0, user: str = OPERATOR_USER) -> str:
        """The user's writes since ``since`` with when each came and the bodies the audit
        log kept (status writes): for an assertion's message."""
        lines = []
        for event in self.write_events(since, user):
            body = event.get("requestObject")
            stamp = event.get("requestReceivedTimestamp", "")
            lines.append(f"{stamp} {_describe(event)}" + (f" {json.dumps(body)}" if body else ""))
        return "\n".join(lines)


def _describe(event: dict[str, Any]) -> str:
    ref = event.get("objectRef") or {}
    resource = ref.get("resource", "?")
    if ref.get("subresource"):
        resource += "/" + ref["subresource"]
    return f"{event['verb']} {resource}/{ref.get('name', '')}"


def prepare(cluster: LocalCluster, workdir: Path, root: Path) -> RealSession:
    """Install the CRD and the operator's identity from ``root``'s deploy/ (its namespace,
    ServiceAccount and ClusterRole) into a started cluster, with a token for it
    (``operator_kubeconfig``)."""
    real = RealSession(cluster, cluster.admin_kubeconfig, workdir / "operator.kubeconfig", workdir)
    real.kubectl(
        "apply", "--server-side", "-f", str(root / "crds" / "llmservices.llmservice.dev.yaml")
    )
    # Polled here rather than with `kubectl wait`, which fails outright ("conditions
    # accessor error") when it reads the new CRD before its status has any conditions.
    wait_for(
        lambda: "Established=True"
        in real.kubectl(
            "get", "crd", "llmservices.llmservice.dev", "-o",
            "jsonpath={range .status.conditions[*]}{.type}={.status} {end}", check=False,
        ).stdout,
        "the LLMService CRD to be Established",
    )  # fmt: skip
    # Established is not yet served everywhere: a list answers 404 for a moment after it.
    wait_for(
        lambda: real.kubectl("get", "llmservices", "-A", check=False).returncode == 0,
        "the LLMService resource to be served",
    )
    for manifest in ("namespace.yaml", "serviceaccount.yaml"):
        real.kubectl("apply", "-f", str(root / "deploy" / "operator" / manifest))
    real.kubectl("apply", "-k", str(root / "deploy" / "rbac" / "cluster"))
    token = real.kubectl(
        "create", "token", OPERATOR_ACCOUNT, "-n", OPERATOR_NAMESPACE, "--duration=24h"
    ).stdout.strip()
    cluster.control_plane.user_kubeconfig(real.operator_kubeconfig, OPERATOR_USER, token)
    return real


def start_session(workdir: Path, root: Path) -> Iterator[RealSession]:
    """The session's control plane (two simulated nodes), prepared; skips, saying why, where
    kubectl or the Kubernetes build is missing."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (the real-control-plane tests drive it with kubectl)")
    try:
        cluster = LocalCluster(nodes=2, ready_delay=1.0).start()
    except BuildUnavailable as exc:
        pytest.skip(f"no real control plane here: {exc}")
    try:
        yield prepare(cluster, workdir, root)
    finally:
        cluster.stop()


def start_real_node_session(
    workdir: Path, root: Path, images: Sequence[Path] = ()
) -> Iterator[RealSession]:
    """A control plane with one real node (``real-node``) and no simulated one, prepared as
    :func:`start_session` prepares its own; ``images`` are loaded into the node's runtime
    (more can be, later: ``session.cluster.real_node.import_image(path)``). Skips, saying
    why, where kubectl, the Kubernetes build or what the node needs from the machine (root,
    containerd, runc, the CNI plugins, cgroups, buildah for the pause image) is missing.

    At the end the node is stopped first and the stop is checked: processes, mounts and
    network namespaces gone, or the teardown fails naming what was left.
    """
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (the real-node tests drive it with kubectl)")
    try:
        cluster = LocalCluster(nodes=0, real_node=True, images=images).start()
    except (BuildUnavailable, NodeUnavailable) as exc:
        pytest.skip(f"no real node here: {exc}")
    try:
        yield prepare(cluster, workdir, root)
    finally:
        node = cluster.real_node
        report = node.stop() if node is not None else None
        cluster.stop()
        if report is not None and report.problems:
            raise AssertionError(f"the real node's stop left: {'; '.join(report.problems)}")
