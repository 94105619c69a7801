"""An idle operator writes nothing, and neither does a restarted one: the reconcile is
level-triggered and compares before it writes (counted at the API server)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from llmservice_testkit.emulator.thread import ServerThread
from operator_helpers import (
    Cluster,
    install_crd,
    operator_writes,
    request_count,
    running_operator,
    wait_for,
)

pytestmark = pytest.mark.slow


def reconciles(metrics_text: str) -> float:
    """Successful reconciles so far, from the operator's /metrics."""
    for line in metrics_text.splitlines():
        if line.startswith('llmservice_reconciles_total{result="ok"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_idle_and_restarted_operator_make_no_mutating_request(
    apiserver: ServerThread,
    kubeconfig_path: Path,
    k8s_api_client: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    install_crd(k8s_api_client)
    cluster = Cluster(k8s_api_client, namespace)
    names = ["one", "two", "three"]
    log = tmp_path / "operator.log"
    with running_operator(kubeconfig_path, [namespace], log):
        cluster.create("one")
        cluster.create("two", {"autoscaling": {"enabled": False}, "replicas": 1})
        cluster.create(
            "three",
            {
                "model": {
                    "storage": {
                        "type": "PersistentVolumeClaim",
                        "size": "1Gi",
                        "accessMode": "ReadWriteMany",
                    }
                }
            },
        )
        for name in names:
            wait_for(
                lambda n=name: cluster.deployment(n) and cluster.service(n), f"{name}'s children"
            )
        cluster.run_ready("one")
        cluster.run_ready("two", pods=1, hpa=False)
        cluster.run_ready("three")
        for name in names:
            cluster.wait_condition(name, "Ready", "True")
        # Settled: the operator has nothing left to do.
        mark = request_count(apiserver)
        time.sleep(2)
        assert operator_writes(apiserver, since=mark) == []

    before = {name: cluster.llms(name)["metadata"]["resourceVersion"] for name in names}
    mark = request_count(apiserver)
    with running_operator(kubeconfig_path, [namespace], log) as op:
        # Resumed: it has listed everything and looked at every LLMService.
        wait_for(lambda: reconciles(op.metrics()) >= 3, "a reconcile of each LLMService")
        time.sleep(1)
        writes = operator_writes(apiserver, since=mark)
        assert writes == [], op.logs()
    after = {name: cluster.llms(name)["metadata"]["resourceVersion"] for name in names}
    assert after == before


def test_a_change_while_the_operator_was_down_is_applied_on_resume(
    kubeconfig_path: Path, k8s_api_client: Any, namespace: str, tmp_path: Path
) -> None:
    install_crd(k8s_api_client)
    cluster = Cluster(k8s_api_client, namespace)
    log = tmp_path / "operator.log"
    with running_operator(kubeconfig_path, [namespace], log):
        cluster.create("chat")
        wait_for(lambda: all(cluster.children("chat").values()), "the children")
        cluster.wait_condition("chat", "Ready", "False")
    cluster.patch_spec("chat", {"autoscaling": {"maxReplicas": 8}})
    cluster.core.delete_namespaced_service("chat", namespace)
    with running_operator(kubeconfig_path, [namespace], log):
        wait_for(
            lambda: (cluster.hpa("chat") or {}).get("spec", {}).get("maxReplicas") == 8,
            "the HPA update",
        )
        wait_for(lambda: cluster.service("chat"), "the Service again")
        wait_for(
            lambda: cluster.status("chat").get("observedGeneration") == 2, "generation 2 observed"
        )


def image_of(deployment: dict[str, Any] | None) -> str | None:
    if deployment is None:
        return None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def test_an_edit_made_while_the_operator_was_down_is_undone_on_resume(
    kubeconfig_path: Path, k8s_api_client: Any, namespace: str, tmp_path: Path
) -> None:
    """The edit keeps our hash annotation, so only comparing the Deployment with what it
    should be finds it; the Deployment's event may come before its LLMService's."""
    install_crd(k8s_api_client)
    cluster = Cluster(k8s_api_client, namespace)
    log = tmp_path / "operator.log"
    with running_operator(kubeconfig_path, [namespace], log):
        cluster.create("chat")
        wait_for(lambda: all(cluster.children("chat").values()), "the children")
        wanted = image_of(cluster.deployment("chat"))
    edit = {"spec": {"template": {"spec": {"containers": [{"name": "backend", "image": "x:1"}]}}}}
    cluster.apps.patch_namespaced_deployment("chat", namespace, edit)
    assert image_of(cluster.deployment("chat")) == "x:1"
    with running_operator(kubeconfig_path, [namespace], log):
        wait_for(lambda: image_of(cluster.deployment("chat")) == wanted, "the image put back")
