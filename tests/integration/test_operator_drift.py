"""Drift: children edited or deleted by someone else are restored; an object of another
owner with a child's name is never taken over."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from operator_helpers import Cluster, Operator, started, wait_for

pytestmark = pytest.mark.slow


def ready_service(cluster: Cluster, name: str = "chat") -> None:
    started(cluster, name)
    cluster.wait_condition(name, "Ready", "False")


def image_of(dep: dict[str, Any] | None) -> str | None:
    if dep is None:
        return None
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


EDITS: dict[str, tuple[Callable[[Cluster], None], Callable[[Cluster], bool]]] = {
    "Deployment": (
        lambda c: c.apps.patch_namespaced_deployment(
            "chat",
            c.ns,
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "backend", "image": "evil:1"}]}}
                }
            },
        ),
        lambda c: image_of(c.deployment("chat")) not in (None, "evil:1"),
    ),
    "Service": (
        lambda c: c.core.patch_namespaced_service(
            "chat",
            c.ns,
            {"spec": {"type": "NodePort"}},
            _content_type="application/merge-patch+json",
        ),
        lambda c: (c.service("chat") or {}).get("spec", {}).get("type") == "ClusterIP",
    ),
    "HorizontalPodAutoscaler": (
        lambda c: c.hpas.patch_namespaced_horizontal_pod_autoscaler(
            "chat",
            c.ns,
            {"spec": {"maxReplicas": 60}},
            _content_type="application/merge-patch+json",
        ),
        lambda c: (c.hpa("chat") or {}).get("spec", {}).get("maxReplicas") == 6,
    ),
    "PodDisruptionBudget": (
        lambda c: c.policy.patch_namespaced_pod_disruption_budget(
            "chat",
            c.ns,
            {"spec": {"maxUnavailable": 3}},
            _content_type="application/merge-patch+json",
        ),
        lambda c: (c.pdb("chat") or {}).get("spec", {}).get("maxUnavailable") == 1,
    ),
}


@pytest.mark.parametrize("kind", list(EDITS))
def test_an_edited_child_is_restored(cluster: Cluster, operator: Operator, kind: str) -> None:
    ready_service(cluster)
    edit, restored = EDITS[kind]
    edit(cluster)
    wait_for(lambda: restored(cluster), f"the {kind} to be restored")
    wait_for(
        lambda: any(kind in e.get("message", "") for e in cluster.events("Restored")),
        "a Restored event naming the kind",
    )


DELETES: dict[str, Callable[[Cluster], Any]] = {
    "Deployment": lambda c: c.apps.delete_namespaced_deployment("chat", c.ns),
    "Service": lambda c: c.core.delete_namespaced_service("chat", c.ns),
    "HorizontalPodAutoscaler": lambda c: c.hpas.delete_namespaced_horizontal_pod_autoscaler(
        "chat", c.ns
    ),
    "PodDisruptionBudget": lambda c: c.policy.delete_namespaced_pod_disruption_budget("chat", c.ns),
}


@pytest.mark.parametrize("kind", list(DELETES))
def test_a_deleted_child_is_recreated(cluster: Cluster, operator: Operator, kind: str) -> None:
    ready_service(cluster)
    old_uid = cluster.children("chat")[kind]["metadata"]["uid"]  # type: ignore[index]
    DELETES[kind](cluster)

    def recreated() -> bool:
        child = cluster.children("chat")[kind]
        return child is not None and child["metadata"]["uid"] != old_uid

    wait_for(recreated, f"the {kind} to be recreated")
    wait_for(lambda: cluster.events("Recreated"), "a Recreated event")


def test_name_conflict_takes_nothing_over(cluster: Cluster, operator: Operator) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "chat", "labels": {"team": "other"}},
        "spec": {"ports": [{"port": 5432}], "selector": {"app": "db"}},
    }
    cluster.core.create_namespaced_service(cluster.ns, foreign)
    cluster.create("chat")
    ready = cluster.wait_condition("chat", "Ready", "False", "NameConflict")
    assert f"Service {cluster.ns}/chat" in ready["message"]
    assert cluster.status("chat")["phase"] == "Failed"
    # Nothing was written: no children, and the Service is untouched.
    assert cluster.deployment("chat") is None
    svc = cluster.service("chat")
    assert svc is not None
    assert svc["spec"]["selector"] == {"app": "db"}
    assert "ownerReferences" not in svc["metadata"]
    # The Warning event is posted right after the status write that carries the condition.
    wait_for(lambda: cluster.events("NameConflict"), "the NameConflict event")
    assert len(cluster.events("NameConflict")) == 1

    # Once the other object is gone, the service is created.
    cluster.core.delete_namespaced_service("chat", cluster.ns)
    wait_for(lambda: all(cluster.children("chat").values()), "the children after the conflict")
    cluster.wait_condition("chat", "Ready", "False", "RolloutInProgress")
