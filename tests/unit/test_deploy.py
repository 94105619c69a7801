"""The kustomize install: every manifest valid for the supported Kubernetes versions, the
operator pod locked down, its settings understood by the operator, its RBAC bound."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import support
import yaml
from llmservice_operator.runtime import settings

KUSTOMIZATIONS = ("deploy", "deploy/namespaced", "crds")

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (for `kubectl kustomize`) is not installed"
)


def kustomize(path: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(support.ROOT / path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, kustomize(request.param)


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def operator_deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(docs, "Deployment")
    return deployment


@pytest.mark.parametrize("version", support.KUBERNETES_VERSIONS)
def test_every_manifest_validates_strictly(
    rendered: tuple[str, list[dict[str, Any]]], version: str
) -> None:
    _, docs = rendered
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_cluster_install_has_everything() -> None:
    kinds = sorted(doc["kind"] for doc in kustomize("deploy"))
    assert kinds == sorted(
        [
            "CustomResourceDefinition",
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
        ]
    )


def test_namespaced_install_uses_a_role_and_watches_its_namespace() -> None:
    docs = kustomize("deploy/namespaced")
    assert not by_kind(docs, "ClusterRole")
    assert not by_kind(docs, "ClusterRoleBinding")
    (role,) = by_kind(docs, "Role")
    (binding,) = by_kind(docs, "RoleBinding")
    namespace = operator_deployment(docs)["metadata"]["namespace"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
    env = {
        e["name"]: e.get("value")
        for e in operator_deployment(docs)["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert settings.load(env).namespaces == (namespace,)


def test_one_operator_at_a_time() -> None:
    spec = operator_deployment(kustomize("deploy"))["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_operator_pod_is_restricted() -> None:
    pod = operator_deployment(kustomize("deploy"))["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert context["readOnlyRootFilesystem"] is True
        assert container["resources"]["requests"].keys() >= {"cpu", "memory"}
        assert "livenessProbe" in container
        assert "readinessProbe" in container


def test_operator_environment_is_understood_and_ports_match_settings() -> None:
    container = operator_deployment(kustomize("deploy"))["spec"]["template"]["spec"]["containers"][
        0
    ]
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    assert all(name.startswith(settings.PREFIX) for name in env)
    loaded = settings.load(env)
    assert loaded.clusterwide
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": loaded.health_port, "metrics": loaded.metrics_port}
    assert container["livenessProbe"]["httpGet"]["port"] == "health"


def test_rbac_is_bound_to_the_operator_service_account() -> None:
    docs = kustomize("deploy")
    (account,) = by_kind(docs, "ServiceAccount")
    (binding,) = by_kind(docs, "ClusterRoleBinding")
    (role,) = by_kind(docs, "ClusterRole")
    pod = operator_deployment(docs)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]


def test_namespaced_role_is_the_cluster_role_without_cluster_scoped_rules() -> None:
    cluster_rules = by_kind(kustomize("deploy"), "ClusterRole")[0]["rules"]
    namespaced_rules = by_kind(kustomize("deploy/namespaced"), "Role")[0]["rules"]
    cluster_scoped = {"customresourcedefinitions", "namespaces"}
    expected = [r for r in cluster_rules if not set(r["resources"]) & cluster_scoped]
    assert namespaced_rules == expected


def test_install_ships_the_committed_crd() -> None:
    (crd,) = by_kind(kustomize("deploy"), "CustomResourceDefinition")
    committed = yaml.safe_load(support.CRD_FILE.read_text())
    assert crd == committed


def test_the_monitoring_install_is_the_cluster_install_plus_the_operators_monitor() -> None:
    plain = kustomize("deploy")
    with_monitoring = kustomize("deploy/with-monitoring")
    extra = [doc for doc in with_monitoring if doc not in plain]
    assert sorted(doc["kind"] for doc in extra) == ["ConfigMap", "PodMonitor"]
    assert all(doc in with_monitoring for doc in plain)
    (monitor,) = by_kind(extra, "PodMonitor")
    pod = operator_deployment(plain)["spec"]["template"]
    # It selects the operator's pods and scrapes a port they have.
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]
    assert "metrics" in ports
    assert monitor["metadata"]["namespace"] == operator_deployment(plain)["metadata"]["namespace"]
    (dashboard,) = by_kind(extra, "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(dashboard["data"]["llmservice-dashboard.json"])
    assert board["uid"] == "llmservice"
