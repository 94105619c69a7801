"""The helpers that play kube-controller-manager: Deployment, Pod and HPA status."""

from __future__ import annotations

from typing import Any

import manifests
import pytest
from kubernetes import client
from llmservice_testkit.emulator import controllers


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    return manifests.deployment(
        name,
        replicas,
        [
            {"name": "backend", "image": "backend:1"},
            {"name": "ollama", "image": "ollama/ollama:0.5.7"},
        ],
    )


@pytest.fixture
def deploy(k8s_api_client: Any, namespace: str) -> str:
    client.AppsV1Api(k8s_api_client).create_namespaced_deployment(namespace, _deployment("llm", 3))
    return "llm"


def test_all_ready(k8s_api_client: Any, namespace: str, deploy: str) -> None:
    status = controllers.simulate_deployment(k8s_api_client, namespace, deploy)["status"]
    assert status["replicas"] == status["readyReplicas"] == status["availableReplicas"] == 3
    assert status["observedGeneration"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    pods = client.CoreV1Api(k8s_api_client).list_namespaced_pod(namespace, label_selector="app=llm")
    assert len(pods.items) == 3
    assert all(p.status.phase == "Running" for p in pods.items)
    assert all(c.ready for p in pods.items for c in p.status.container_statuses)
    assert pods.items[0].metadata.owner_references[0].kind == "ReplicaSet"


@pytest.mark.parametrize(
    ("problem", "reason", "last_reason"),
    [
        ("CrashLoopBackOff", "CrashLoopBackOff", "Error"),
        ("ImagePullBackOff", "ImagePullBackOff", None),
        ("OOMKilled", "CrashLoopBackOff", "OOMKilled"),
    ],
)
def test_some_pods_failing(
    k8s_api_client: Any,
    namespace: str,
    deploy: str,
    problem: Any,
    reason: str,
    last_reason: str | None,
) -> None:
    status = controllers.simulate_deployment(
        k8s_api_client, namespace, deploy, ready=1, problem=problem, container="ollama"
    )["status"]
    assert status["readyReplicas"] == 1
    assert status["unavailableReplicas"] == 2
    pods = client.CoreV1Api(k8s_api_client).list_namespaced_pod(namespace).items
    assert len(pods) == 3
    failing = [p for p in pods if not all(c.ready for c in p.status.container_statuses)]
    assert len(failing) == 2
    for pod in failing:
        by_name = {c.name: c for c in pod.status.container_statuses}
        assert by_name["backend"].ready
        assert by_name["ollama"].state.waiting.reason == reason
        if last_reason:
            assert by_name["ollama"].last_state.terminated.reason == last_reason
        ready = {c.type: c.status for c in pod.status.conditions}["Ready"]
        assert ready == "False"


def test_unschedulable(k8s_api_client: Any, namespace: str, deploy: str) -> None:
    controllers.simulate_deployment(
        k8s_api_client, namespace, deploy, ready=0, problem="Unschedulable"
    )
    pods = client.CoreV1Api(k8s_api_client).list_namespaced_pod(namespace).items
    assert {p.status.phase for p in pods} == {"Pending"}
    assert pods[0].status.conditions[0].reason == "Unschedulable"
    dep = client.AppsV1Api(k8s_api_client).read_namespaced_deployment(deploy, namespace)
    assert not dep.status.ready_replicas


def test_pods_are_replaced_and_collected_with_the_deployment(
    k8s_api_client: Any, namespace: str, deploy: str
) -> None:
    controllers.create_pods(k8s_api_client, namespace, deploy, ready=3)
    controllers.create_pods(k8s_api_client, namespace, deploy, ready=2)
    core = client.CoreV1Api(k8s_api_client)
    assert len(core.list_namespaced_pod(namespace).items) == 3
    client.AppsV1Api(k8s_api_client).delete_namespaced_deployment(deploy, namespace)
    assert core.list_namespaced_pod(namespace).items == []


def test_unknown_problem_is_refused(k8s_api_client: Any, namespace: str, deploy: str) -> None:
    with pytest.raises(ValueError, match="unknown pod problem"):
        controllers.create_pods(k8s_api_client, namespace, deploy, problem="Bad")  # type: ignore[arg-type]


def test_hpa_status(k8s_api_client: Any, namespace: str) -> None:
    client.AutoscalingV2Api(k8s_api_client).create_namespaced_horizontal_pod_autoscaler(
        namespace, manifests.cpu_hpa("llm")
    )
    status = controllers.set_hpa_status(
        k8s_api_client,
        namespace,
        "llm",
        current_replicas=4,
        desired_replicas=6,
        cpu_utilization=95,
        memory_utilization=60,
    )["status"]
    assert status["currentReplicas"] == 4
    assert status["desiredReplicas"] == 6
    metrics = {
        m["resource"]["name"]: m["resource"]["current"]["averageUtilization"]
        for m in status["currentMetrics"]
    }
    assert metrics == {"cpu": 95, "memory": 60}
    limited = {c["type"]: c for c in status["conditions"]}["ScalingLimited"]
    assert limited["status"] == "True"
    assert limited["reason"] == "TooManyReplicas"
