"""What shows a service to the cluster, on the emulator with the real operator: the
NetworkPolicy, the route (Ingress or HTTPRoute) and the PodMonitor are created, owned,
restored after drift and deleted when turned off; without the CRDs of the Prometheus
Operator and the Gateway API the service still runs and the Monitoring and Route
conditions say what is missing, until the CRDs appear.

The HTTPRoute and PodMonitor CRDs here are stand-ins with an open schema (the emulator
checks structure, not the upstream rules): the real Gateway API CRDs are installed into
the real control plane by tests/cluster/test_real_exposure.py. The emulator's bundled
discovery already serves httproutes (kmock's dump), so the Gateway API missing is tested
on the real control plane, before its CRDs are installed, and here only PodMonitor is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from operator_helpers import Cluster, install_crd, running_operator, wait_for

pytestmark = pytest.mark.slow

WAIT = 60.0
KINDS = {
    "NetworkPolicy": ("networking.k8s.io", "v1", "networkpolicies"),
    "Ingress": ("networking.k8s.io", "v1", "ingresses"),
    "HTTPRoute": ("gateway.networking.k8s.io", "v1", "httproutes"),
    "PodMonitor": ("monitoring.coreos.com", "v1", "podmonitors"),
}


def stand_in_crd(kind: str) -> dict[str, Any]:
    group, version, plural = KINDS[kind]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def remove_stand_in(api_client: Any, kind: str) -> None:
    """The emulator is shared by the tests of a session: a CRD one test installed is
    removed again, and waited for until its kind is no longer served."""
    group, version, plural = KINDS[kind]
    try:
        client.ApiextensionsV1Api(api_client).delete_custom_resource_definition(f"{plural}.{group}")
    except ApiException as exc:
        if exc.status != 404:
            raise

    def gone() -> bool:
        try:
            client.CustomObjectsApi(api_client).list_cluster_custom_object(group, version, plural)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, f"the {kind} CRD to go", WAIT)


def install_stand_in(api_client: Any, kind: str) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    try:
        ext.create_custom_resource_definition(stand_in_crd(kind))
    except ApiException as exc:
        if exc.status != 409:
            raise
    group, version, plural = KINDS[kind]
    custom = client.CustomObjectsApi(api_client)
    wait_for(
        lambda: custom.list_cluster_custom_object(group, version, plural) is not None,
        f"the {kind} CRD to be served",
    )


class Children:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.custom = client.CustomObjectsApi(cluster.api_client)

    def get(self, kind: str, name: str = "chat") -> dict[str, Any] | None:
        group, version, plural = KINDS[kind]
        try:
            return dict(
                self.custom.get_namespaced_custom_object(
                    group, version, self.cluster.ns, plural, name
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch(self, kind: str, body: dict[str, Any], name: str = "chat") -> None:
        group, version, plural = KINDS[kind]
        self.custom.patch_namespaced_custom_object(
            group, version, self.cluster.ns, plural, name, body
        )

    def delete(self, kind: str, name: str = "chat") -> None:
        group, version, plural = KINDS[kind]
        self.custom.delete_namespaced_custom_object(group, version, self.cluster.ns, plural, name)


EXPOSED = {
    "networkPolicy": {
        "enabled": True,
        "allowFrom": [{"namespace": "web", "podLabels": {"app": "open-webui"}}],
        "metricsFromNamespaces": ["monitoring"],
    },
    "route": {
        "ingress": {"className": "nginx", "host": "chat.example.com", "tlsSecretName": "chat-tls"}
    },
    "monitoring": {"enabled": True, "interval": "15s"},
}


def test_children_created_restored_switched_and_removed(
    kubeconfig_path: Path, k8s_api_client: Any, namespace: str, tmp_path: Path
) -> None:
    install_crd(k8s_api_client)
    install_stand_in(k8s_api_client, "HTTPRoute")
    install_stand_in(k8s_api_client, "PodMonitor")
    cluster = Cluster(k8s_api_client, namespace)
    kids = Children(cluster)
    with running_operator(kubeconfig_path, [namespace], tmp_path / "operator.log") as op:
        try:
            _exposed_lifecycle(cluster, kids)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\noperator log:\n{op.logs()}") from None
        finally:
            remove_stand_in(k8s_api_client, "PodMonitor")


def _exposed_lifecycle(cluster: Cluster, kids: Children) -> None:
    llms = cluster.create("chat", EXPOSED)
    uid = llms["metadata"]["uid"]
    for kind in ("NetworkPolicy", "Ingress", "PodMonitor"):
        found = wait_for(lambda k=kind: kids.get(k), f"the {kind}", WAIT)
        owner = found["metadata"]["ownerReferences"][0]
        assert (owner["uid"], owner["controller"]) == (uid, True)
    policy = kids.get("NetworkPolicy") or {}
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ports == [8080, 9090]  # the backend's and the metrics port; never 11434
    monitor = kids.get("PodMonitor") or {}
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    cluster.wait_condition("chat", "Monitoring", "True", "PodMonitorCreated", WAIT)
    cluster.wait_condition("chat", "Route", "True", "IngressCreated", WAIT)

    # drift: an edited Ingress and a deleted PodMonitor are restored
    kids.patch("Ingress", {"spec": {"rules": [{"host": "evil.example.com"}]}})
    wait_for(
        lambda: (
            (kids.get("Ingress") or {}).get("spec", {}).get("rules", [{}])[0].get("host")
            == "chat.example.com"
        ),
        "the Ingress's host restored",
        WAIT,
    )
    kids.delete("PodMonitor")
    wait_for(lambda: kids.get("PodMonitor"), "the PodMonitor recreated", WAIT)

    # from Ingress to HTTPRoute: one goes, the other comes
    cluster.patch_spec(
        "chat",
        {"route": {"ingress": None, "httpRoute": {"parentRefs": [{"name": "gw"}]}}},
    )
    wait_for(lambda: kids.get("Ingress") is None, "the Ingress deleted", WAIT)
    route = wait_for(lambda: kids.get("HTTPRoute"), "the HTTPRoute", WAIT)
    rule = route["spec"]["rules"][0]
    assert rule["backendRefs"][0]["name"] == "chat"
    assert rule["timeouts"]["request"] == "1200s"
    cluster.wait_condition("chat", "Route", "True", "HTTPRouteCreated", WAIT)

    # everything off: every one of them deleted, the conditions gone
    cluster.patch_spec(
        "chat",
        {"route": None, "monitoring": {"enabled": False}, "networkPolicy": None},
    )
    for kind in ("NetworkPolicy", "HTTPRoute", "PodMonitor"):
        wait_for(lambda k=kind: kids.get(k) is None, f"the {kind} deleted", WAIT)
    wait_for(
        lambda: (
            not cluster.condition("chat", "Monitoring") and not cluster.condition("chat", "Route")
        ),
        "the Monitoring and Route conditions gone",
        WAIT,
    )
    assert cluster.deployment("chat") is not None


def test_missing_crds_are_reported_then_used_once_installed(
    kubeconfig_path: Path, k8s_api_client: Any, namespace: str, tmp_path: Path
) -> None:
    install_crd(k8s_api_client)
    remove_stand_in(k8s_api_client, "PodMonitor")
    cluster = Cluster(k8s_api_client, namespace)
    kids = Children(cluster)
    env = {"LLMSERVICE_DISCOVERY_RECHECK": "1"}
    with running_operator(kubeconfig_path, [namespace], tmp_path / "op.log", env) as op:
        try:
            cluster.create("chat", {"monitoring": {"enabled": True}})
            mon = cluster.wait_condition(
                "chat", "Monitoring", "False", "PrometheusOperatorMissing", WAIT
            )
            assert "monitoring.coreos.com/v1 PodMonitor" in mon["message"]
            # the service itself goes on: its children are there, nothing is Degraded
            assert cluster.deployment("chat") is not None
            assert cluster.service("chat")
            assert cluster.condition("chat", "Degraded").get("status") != "True"
            assert cluster.events("PrometheusOperatorMissing"), "no Warning event"

            install_stand_in(k8s_api_client, "PodMonitor")
            wait_for(lambda: kids.get("PodMonitor"), "the PodMonitor once its CRD exists", WAIT)
            cluster.wait_condition("chat", "Monitoring", "True", "PodMonitorCreated", WAIT)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\noperator log:\n{op.logs()}") from None
