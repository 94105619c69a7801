"""Scaling on in-flight requests and the PodDisruptionBudget, with the real operator on
the local API server: what it writes, removes, restores and reports. (The real HPA
controller acting on these is tests/cluster/test_real_scaling.py.)"""

from __future__ import annotations

import pytest
from llmservice_operator.api.models import IN_FLIGHT_METRIC
from operator_helpers import Cluster, Operator, wait_for

pytestmark = pytest.mark.slow

IN_FLIGHT = {"type": "InFlightRequests", "targetAverageValue": 3}


def test_the_budget_goes_with_the_second_pod_and_comes_back_with_it(
    cluster: Cluster, operator: Operator
) -> None:
    cluster.create("fixed", {"autoscaling": {"enabled": False}, "replicas": 2})
    budget = wait_for(lambda: cluster.pdb("fixed"), "the PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == cluster.deployment("fixed")["spec"]["selector"]  # type: ignore[index]
    (ref,) = budget["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("LLMService", "fixed", True)

    cluster.patch_spec("fixed", {"replicas": 1})
    wait_for(lambda: cluster.pdb("fixed") is None, "the budget of a single pod to be deleted")
    wait_for(
        lambda: any("PodDisruptionBudget" in e["message"] for e in cluster.events("Deleted")),
        "a Deleted event naming it",
    )
    cluster.patch_spec("fixed", {"replicas": 3, "podDisruptionBudget": {"minAvailable": 2}})
    again = wait_for(lambda: cluster.pdb("fixed"), "the budget to be created again")
    assert again["spec"]["minAvailable"] == 2
    assert "maxUnavailable" not in again["spec"]

    cluster.patch_spec("fixed", {"podDisruptionBudget": {"enabled": False}})
    wait_for(lambda: cluster.pdb("fixed") is None, "the budget turned off to be deleted")


def test_a_budget_of_someone_else_is_left_alone(cluster: Cluster, operator: Operator) -> None:
    foreign = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "single"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "other"}}},
    }
    cluster.policy.create_namespaced_pod_disruption_budget(cluster.ns, foreign)
    cluster.create("single", {"autoscaling": {"enabled": False}, "replicas": 1})
    wait_for(lambda: cluster.deployment("single"), "the Deployment")
    cluster.wait_condition("single", "Ready", "False")
    kept = cluster.pdb("single")
    assert kept is not None
    assert kept["spec"]["selector"] == {"matchLabels": {"app": "other"}}


def test_in_flight_scaling_reaches_the_hpa_and_its_values_the_status(
    cluster: Cluster, operator: Operator
) -> None:
    cluster.create(
        "busy",
        {"autoscaling": {"minReplicas": 1, "maxReplicas": 3, "metrics": [IN_FLIGHT]}},
    )
    hpa = wait_for(lambda: cluster.hpa("busy"), "the HPA")
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": IN_FLIGHT_METRIC},
                "target": {"type": "AverageValue", "averageValue": "3"},
            },
        }
    ]
    assert hpa["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    pod_spec = cluster.deployment("busy")["spec"]["template"]["spec"]  # type: ignore[index]
    (spread,) = pod_spec["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == (
        "kubernetes.io/hostname",
        "ScheduleAnyway",
    )

    cluster.run_ready("busy", pods=1, hpa=False)
    # the HPA controller's view: 4.5 requests in flight per pod, 2 pods wanted
    cluster.set_hpa_status("busy", 1, 2, pods_metrics={IN_FLIGHT_METRIC: "4500m"})

    def reported() -> dict[str, object] | None:
        auto = cluster.status("busy").get("autoscaling") or {}
        return auto if auto.get("metrics") and auto.get("state") == "ScalingUp" else None

    auto = wait_for(reported, "ScalingUp with the in-flight value")
    assert auto["metrics"] == [
        {"type": "InFlightRequests", "currentAverageValue": "4.5", "targetAverageValue": "3"}
    ]
    # held at maxReplicas with the load still above target
    cluster.set_hpa_status(
        "busy", 3, 3, limited="TooManyReplicas", pods_metrics={IN_FLIGHT_METRIC: "5"}
    )
    cluster.mark_deployment("busy", ready=3)
    cluster.wait_condition("busy", "ScalingLimited", "True", "MaxReplicasReached")
    assert cluster.status("busy")["autoscaling"]["state"] == "AtMaximum"
