"""The real operator against the local API server: create, become Ready, update, scale,
delete. The test plays kube-controller-manager (Deployment, HPA and Pod status)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llmservice_operator.api import naming
from llmservice_operator.api.models import API_GROUP, API_VERSION, KIND
from llmservice_operator.core.planner import HASH_ANNOTATION
from operator_helpers import (
    KUBECTL,
    Cluster,
    Operator,
    kubectl,
    wait_for,
)

pytestmark = pytest.mark.slow
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def owned_children(cluster: Cluster, name: str) -> dict[str, dict[str, Any]] | None:
    children = cluster.children(name)
    if not all(children.values()):
        return None
    return {k: v for k, v in children.items() if v is not None}


def test_create_gives_three_owned_children_and_ready_status(
    cluster: Cluster, operator: Operator
) -> None:
    created = cluster.create("chat")
    children = wait_for(lambda: owned_children(cluster, "chat"), "the three children")
    for kind, child in children.items():
        (ref,) = child["metadata"]["ownerReferences"]
        assert ref == {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "name": "chat",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }, kind
        assert HASH_ANNOTATION in child["metadata"]["annotations"]

    pending = cluster.wait_condition("chat", "Ready", "False")
    assert cluster.status("chat")["ready"] == "0/2"
    assert pending["observedGeneration"] == 1

    cluster.run_ready("chat", pods=2)
    cluster.wait_condition("chat", "Ready", "True", "AllReplicasReady")
    status = cluster.status("chat")
    assert status["phase"] == "Ready"
    assert status["ready"] == "2/2"
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (2, 2, 2)
    assert status["updatedReplicas"] == 2
    assert status["desiredReplicas"] == 2
    assert status["endpoint"] == f"http://chat.{cluster.ns}.svc:80"
    assert status["observedGeneration"] == 1
    assert status["autoscaling"]["state"] == "Stable"
    assert [e["reason"] for e in cluster.events("Created")] == ["Created"]


@needs_kubectl
def test_kubectl_apply_get_wait_and_delete(
    cluster: Cluster, operator: Operator, kubeconfig_path: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "llms.yaml"
    manifest.write_text(
        "apiVersion: llmservice.dev/v1alpha1\nkind: LLMService\n"
        "metadata:\n  name: tiny\nspec:\n  model:\n    name: tinyllama\n"
    )
    kubectl(kubeconfig_path, "apply", "-n", cluster.ns, "-f", str(manifest))
    wait_for(lambda: owned_children(cluster, "tiny"), "the three children")
    cluster.run_ready("tiny", pods=2)
    waited = kubectl(
        kubeconfig_path,
        "wait",
        "-n",
        cluster.ns,
        "--for=condition=Ready",
        "llms/tiny",
        "--timeout=20s",
        check=False,
    )
    assert waited.returncode == 0, waited.stderr

    table = kubectl(kubeconfig_path, "get", "llms", "-n", cluster.ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "MODEL", "READY", "DESIRED", "MIN", "MAX", "PHASE", "AGE"]
    assert table[1].split()[:7] == ["tiny", "tinyllama", "2/2", "2", "2", "6", "Ready"]

    kubectl(kubeconfig_path, "delete", "-n", cluster.ns, "llms/tiny")
    wait_for(
        lambda: not any(cluster.children("tiny").values()),
        "the children to be garbage-collected",
    )


def test_spec_update_updates_children_and_observes_the_generation(
    cluster: Cluster, operator: Operator
) -> None:
    cluster.create("chat")
    wait_for(lambda: owned_children(cluster, "chat"), "the three children")
    cluster.run_ready("chat")
    cluster.wait_condition("chat", "Ready", "True")
    before = cluster.deployment("chat")
    assert before is not None

    cluster.patch_spec(
        "chat", {"model": {"name": "llama3.2:1b"}, "autoscaling": {"maxReplicas": 9}}
    )

    def updated() -> bool:
        dep, hpa = cluster.deployment("chat"), cluster.hpa("chat")
        env = dep["spec"]["template"]["spec"]["containers"][0]["env"] if dep else []
        model = next((e["value"] for e in env if e["name"] == "MODEL_NAME"), None)
        return model == "llama3.2:1b" and hpa is not None and hpa["spec"]["maxReplicas"] == 9

    wait_for(updated, "the Deployment and HPA to carry the new spec")
    # The new Deployment generation is not rolled out until the controller says so.
    cluster.mark_deployment("chat", ready=2)
    wait_for(
        lambda: (
            cluster.status("chat").get("observedGeneration") == 2
            and cluster.condition("chat", "Ready").get("status") == "True"
        ),
        "generation 2 observed and Ready",
    )
    assert all(c["observedGeneration"] == 2 for c in cluster.status("chat")["conditions"])
    assert cluster.events("Updated")


def test_autoscaling_off_and_on_and_kubectl_scale(
    cluster: Cluster, operator: Operator, kubeconfig_path: Path
) -> None:
    cluster.create("chat")
    wait_for(lambda: owned_children(cluster, "chat"), "the three children")

    cluster.patch_spec("chat", {"autoscaling": {"enabled": False}, "replicas": 3})
    wait_for(lambda: cluster.hpa("chat") is None, "the HPA to be deleted")
    wait_for(
        lambda: (cluster.deployment("chat") or {}).get("spec", {}).get("replicas") == 3,
        "the Deployment to have 3 replicas",
    )
    cluster.mark_deployment("chat", ready=3)
    wait_for(lambda: cluster.status("chat").get("ready") == "3/3", "READY 3/3")
    assert cluster.status("chat")["autoscaling"] == {"state": "Disabled"}

    if KUBECTL is not None:
        kubectl(kubeconfig_path, "scale", "-n", cluster.ns, "llms/chat", "--replicas=4")
    else:
        cluster.patch_spec("chat", {"replicas": 4})
    wait_for(
        lambda: (cluster.deployment("chat") or {}).get("spec", {}).get("replicas") == 4,
        "the Deployment to follow the scale to 4",
    )
    wait_for(lambda: cluster.status("chat").get("desiredReplicas") == 4, "desiredReplicas 4")

    cluster.patch_spec("chat", {"autoscaling": {"enabled": True}})
    hpa = wait_for(lambda: cluster.hpa("chat"), "the HPA to come back")
    assert hpa["spec"]["minReplicas"] == 2
    # The 4 running pods are handed over to the HPA, not cut to the Deployment default of 1.
    deployment = wait_for(
        lambda: (d := cluster.deployment("chat")) and "replicas" not in _applied_spec(d) and d,
        "the Deployment applied without replicas",
    )
    assert deployment["spec"]["replicas"] == 4
    wait_for(
        lambda: cluster.status("chat").get("autoscaling", {}).get("minReplicas") == 2,
        "autoscaling reported again",
    )

    # Scaling while the autoscaler owns the count: told, not silently dropped.
    cluster.patch_spec("chat", {"replicas": 5})
    (event,) = wait_for(lambda: cluster.events("ReplicasIgnored"), "a ReplicasIgnored event")
    assert event["type"] == "Warning"
    assert "spec.replicas changed to 5, which has no effect" in event["message"]
    assert "between 2 and 6" in event["message"]
    assert cluster.hpa("chat")["spec"]["minReplicas"] == 2
    limited = next(c for c in cluster.status("chat")["conditions"] if c["type"] == "ScalingLimited")
    assert "kubectl scale have no effect while autoscaling is on" in limited["message"]


def test_metrics_endpoint_reports_reconciles_and_phases(
    cluster: Cluster, operator: Operator
) -> None:
    cluster.create("chat")
    cluster.wait_condition("chat", "Ready", "False")
    text = operator.metrics()
    assert 'llmservice_reconciles_total{result="ok"}' in text
    assert "llmservice_reconcile_duration_seconds_bucket" in text
    assert 'llmservice_services{phase="Pending"} 1.0' in text


def _applied_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    """The spec fields the operator's own server-side apply owns."""
    for entry in deployment["metadata"].get("managedFields") or ():
        if entry.get("manager") == naming.FIELD_MANAGER and entry.get("operation") == "Apply":
            return {k[2:]: v for k, v in entry["fieldsV1"].get("f:spec", {}).items()}
    return {}
