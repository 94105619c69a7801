"""The Helm chart installed into a real control plane with Helm v4, and uninstalled.

A control plane of their own, started empty: the chart's CRD is the one Helm installs.
With a simulated node (no container runs; the Deployment's pod is only reported Ready)
the operator runs as a local process with the token of the ServiceAccount the chart made,
so every request it makes passes through the chart's RBAC, cluster-wide and
single-namespace. With a real node (where the machine can run one, and ``make images``
built the operator's image) the chart's Deployment runs the operator's image itself.
Skips, saying why, without Go (no control plane, no Helm) or kubectl.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from operator_helpers import running_operator
from realcluster import ROOT, Operator, wait_for

pytestmark = pytest.mark.slow
CHART = ROOT / "charts" / "llmservice-operator"
KUBECTL = shutil.which("kubectl")
CRD = "llmservices.llmservice.dev"
INSTANCE = "app.kubernetes.io/instance"
# Every kind the chart makes, as kubectl names them.
KINDS = "deployments,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings"


class Helmed:
    """A started control plane, driven by Helm and kubectl as its administrator."""

    def __init__(self, cluster: Any, workdir: Path) -> None:
        self.cluster = cluster
        self.kubeconfig = cluster.admin_kubeconfig
        self.workdir = workdir

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        from llmservice_testkit import helm

        return helm.run(*args, "--kubeconfig", str(self.kubeconfig), check=check, timeout=400)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        assert KUBECTL is not None
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout if check else done.stdout + done.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def released(self, release: str) -> list[str]:
        """``kind/namespace/name`` of every object that carries the release's label."""
        items = self.json("get", KINDS, "-A", "-l", f"{INSTANCE}={release}")["items"]
        return sorted(
            f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
            for o in items
        )

    @contextlib.contextmanager
    def operator_as(
        self, account: str, namespace: str, watch: list[str], log: Path
    ) -> Iterator[Operator]:
        """The operator process with the token of the chart's ServiceAccount."""
        token = self.kubectl("create", "token", account, "-n", namespace).strip()
        kubeconfig = self.workdir / f"{namespace}-{account}.kubeconfig"
        user = f"system:serviceaccount:{namespace}:{account}"
        self.cluster.control_plane.user_kubeconfig(kubeconfig, user, token)
        env = {"LLMSERVICE_FIRST_STATUS_DELAY": "0"}
        with running_operator(kubeconfig, watch, log, env) as operator:
            yield operator

    def create_service(self, namespace: str, name: str) -> None:
        doc = {
            "apiVersion": "llmservice.dev/v1alpha1",
            "kind": "LLMService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "autoscaling": {"enabled": False}},
        }
        self.kubectl("create", "-f", "-", stdin=json.dumps(doc))

    def wait_reconciled(self, namespace: str, name: str) -> dict[str, Any]:
        """The service's Deployment written by the operator and its status reported."""
        wait_for(
            lambda: self.json("get", "deployment", name, "-n", namespace),
            f"the operator to create the Deployment of {namespace}/{name}",
        )
        found: dict[str, Any] = wait_for(
            lambda: (s := self.json("get", "llms", name, "-n", namespace)).get("status", {})
            .get("phase") and s,
            f"the status of {namespace}/{name}",
        )  # fmt: skip
        return found


@pytest.fixture(scope="module")
def helmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Helmed]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    from llmservice_testkit import helm
    from llmservice_testkit.cluster import BuildUnavailable, LocalCluster

    try:
        helm.ensure()
    except helm.BuildUnavailable as exc:
        pytest.skip(f"no Helm here: {exc}")
    workdir = tmp_path_factory.mktemp("helm-cluster")
    try:
        cluster = LocalCluster(nodes=1, ready_delay=0.5).start()
    except BuildUnavailable as exc:
        pytest.skip(f"no real control plane here: {exc}")
    try:
        yield Helmed(cluster, workdir)
    finally:
        cluster.stop()


def test_cluster_wide_install_serves_the_crd_runs_and_uninstalls_cleanly(
    helmed: Helmed, tmp_path: Path
) -> None:
    if "NotFound" not in helmed.kubectl("get", "crd", CRD, check=False):
        helmed.kubectl("delete", "crd", CRD, "--wait")  # Helm must install it here
    release, namespace = "llmservice-operator", "llmservice-system"
    helmed.helm(
        "install", release, str(CHART), "--namespace", namespace, "--create-namespace",
        "--wait=watcher", "--timeout", "5m",
    )  # fmt: skip
    # --wait: the operator's Deployment is available (its pod reported Ready).
    deployment = helmed.json("get", "deployment", release, "-n", namespace)
    assert deployment["status"].get("availableReplicas") == 1
    assert helmed.released(release) == [
        f"ClusterRole//{release}",
        f"ClusterRoleBinding//{release}",
        f"Deployment/{namespace}/{release}",
        f"ServiceAccount/{namespace}/{release}",
    ]
    crd = helmed.json("get", "crd", CRD)
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    helmed.kubectl("create", "namespace", "team")
    # The API server validates with the chart's CRD: a bad spec is refused, naming the field.
    refused = helmed.kubectl(
        "create", "-f", "-",
        stdin=json.dumps({
            "apiVersion": "llmservice.dev/v1alpha1", "kind": "LLMService",
            "metadata": {"name": "bad", "namespace": "team"}, "spec": {"replicas": -1},
        }),
        check=False,
    )  # fmt: skip
    assert "spec.replicas" in refused, refused
    assert "should be greater than or equal to 0" in refused, refused
    with helmed.operator_as(release, namespace, [], tmp_path / "operator.log") as operator:
        helmed.create_service("team", "chat")
        served = helmed.wait_reconciled("team", "chat")
        assert served["status"]["phase"], operator.logs()
    helmed.helm("uninstall", release, "--namespace", namespace, "--wait=watcher", "--timeout", "3m")
    # Everything of the release is gone; the CRD stays (Helm's crds/ convention), with the
    # LLMServices and their children; the namespace stays (--create-namespace made it).
    assert helmed.released(release) == []
    assert "NotFound" in helmed.kubectl(
        "get", "clusterrole", release, check=False
    )  # fmt: skip
    assert helmed.helm("list", "--all-namespaces", "--short").stdout.strip() == ""
    assert helmed.json("get", "crd", CRD)["metadata"]["name"] == CRD
    assert helmed.json("get", "llms", "chat", "-n", "team")["metadata"]["name"] == "chat"
    assert helmed.json("get", "namespace", namespace)["metadata"]["name"] == namespace


def test_single_namespace_install_is_confined_to_it(helmed: Helmed, tmp_path: Path) -> None:
    release, namespace = "ops", "team-b"
    helmed.helm(
        "install", release, str(CHART), "--namespace", namespace, "--create-namespace",
        "--set", "rbac.scope=namespace", "--wait=watcher", "--timeout", "5m",
    )  # fmt: skip
    account = "ops-llmservice-operator"
    assert helmed.released(release) == [
        f"Deployment/{namespace}/{account}",
        f"Role/{namespace}/{account}",
        f"RoleBinding/{namespace}/{account}",
        f"ServiceAccount/{namespace}/{account}",
    ]
    user = f"system:serviceaccount:{namespace}:{account}"
    can = helmed.kubectl("auth", "can-i", "list", "llmservices", "--as", user, check=False)
    assert can.startswith("no"), "a single-namespace install grants nothing cluster-wide"
    can = helmed.kubectl(
        "auth", "can-i", "list", "llmservices", "-n", namespace, "--as", user, check=False
    )
    assert can.startswith("yes")
    env = helmed.json("get", "deployment", account, "-n", namespace)["spec"]["template"]
    variables = {e["name"]: e["value"] for e in env["spec"]["containers"][0]["env"]}
    assert variables["LLMSERVICE_NAMESPACES"] == namespace
    with helmed.operator_as(account, namespace, [namespace], tmp_path / "operator.log"):
        helmed.create_service(namespace, "chat")
        helmed.wait_reconciled(namespace, "chat")
    helmed.helm("uninstall", release, "--namespace", namespace, "--wait=watcher", "--timeout", "3m")
    assert helmed.released(release) == []


@pytest.mark.own_real_node
def test_the_chart_runs_the_operators_image_on_a_real_node(tmp_path: Path) -> None:
    """The chart as a user installs it: the operator's own image (``make images``) runs
    on a real node (kubelet, containerd) under the chart's ServiceAccount, and creates an
    LLMService's children. Skips where the machine cannot run a real node."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    from llmservice_testkit import helm, images
    from llmservice_testkit.cluster import BuildUnavailable, LocalCluster, NodeUnavailable

    try:
        helm.ensure()
    except helm.BuildUnavailable as exc:
        pytest.skip(f"no Helm here: {exc}")
    try:
        archive = images.ensure_images(["operator"], build=False)[images.OPERATOR]
    except images.BuildUnavailable as exc:
        pytest.skip(f"the operator's image is not built (make images): {exc}")
    try:
        cluster = LocalCluster(nodes=0, real_node=True, images=[archive]).start()
    except (BuildUnavailable, NodeUnavailable) as exc:
        pytest.skip(f"no real node here: {exc}")
    try:
        helmed = Helmed(cluster, tmp_path)
        repository, tag = images.OPERATOR.rsplit(":", 1)
        release, namespace = "llmservice-operator", "llmservice-system"
        helmed.kubectl("create", "namespace", namespace)
        helmed.kubectl(
            "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
        )
        helmed.helm(
            "install", release, str(CHART), "--namespace", namespace,
            "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
            "--set", "image.pullPolicy=Never", "--wait=watcher", "--timeout", "5m",
        )  # fmt: skip
        (pod,) = helmed.json("get", "pods", "-n", namespace)["items"]
        assert pod["spec"]["nodeName"] == "real-node"
        assert pod["spec"]["serviceAccountName"] == release
        helmed.kubectl("create", "namespace", "team")
        helmed.create_service("team", "chat")
        served = helmed.wait_reconciled("team", "chat")
        assert served["status"]["phase"]
        # The API server's audit log: the writes came from the pod, as the chart's account.
        account = f"system:serviceaccount:{namespace}:{release}"
        written = {
            (e["verb"], e["objectRef"].get("resource"), e["objectRef"].get("subresource"))
            for e in cluster.control_plane.audit_events()
            if e.get("user", {}).get("username") == account
            and e.get("objectRef", {}).get("name") == "chat"
            and e.get("responseStatus", {}).get("code", 999) < 300
        }
        assert ("patch", "deployments", None) in written, written
        assert ("patch", "llmservices", "status") in written, written
        helmed.helm("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "3m")
        assert helmed.released(release) == []
        wait_for(
            lambda: helmed.json("get", "pods", "-n", namespace)["items"] == [],
            "the operator's pod to be gone",
        )
    finally:
        node = cluster.real_node
        report = node.stop() if node is not None else None
        cluster.stop()
        if report is not None and report.problems:
            raise AssertionError(f"the real node's stop left: {'; '.join(report.problems)}")
