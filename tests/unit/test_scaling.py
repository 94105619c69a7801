"""Scaling on what a pod is busy with, and surviving disruptions: the HPA's metrics and
behavior, the PodDisruptionBudget, the pods' topology spread, and what the status says of
the autoscaler's metrics."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import support
from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService, LLMServiceSpec
from llmservice_operator.builders import build_children, build_deployment, build_hpa, build_pdb
from llmservice_operator.builders.pdb import wants_budget
from llmservice_operator.core import scalingmetrics
from llmservice_operator.core.status import autoscaling_status, scaling_state


def make(spec: dict[str, Any] | None = None) -> LLMService:
    return LLMService.model_validate(
        {"metadata": {"name": "chat", "namespace": "ns"}, "spec": spec or {}}
    )


IN_FLIGHT = {"type": "InFlightRequests", "targetAverageValue": 3}


# --------------------------------------------------------------------------------------
# the HPA's metrics


def test_in_flight_requests_become_a_pods_metric_of_the_backends_gauge() -> None:
    hpa = build_hpa(make({"autoscaling": {"metrics": [IN_FLIGHT]}}))
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "llmservice_backend_upstream_in_flight_requests"},
                "target": {"type": "AverageValue", "averageValue": "3"},
            },
        }
    ]


def test_the_metrics_list_replaces_the_two_utilization_targets() -> None:
    metrics = [
        {"type": "QueuedRequests", "targetAverageValue": 2, "metricName": "queued"},
        {"type": "Memory", "targetUtilizationPercentage": 85},
    ]
    hpa = build_hpa(make({"autoscaling": {"metrics": metrics}}))
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "queued"},
                "target": {"type": "AverageValue", "averageValue": "2"},
            },
        },
        {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "Utilization", "averageUtilization": 85},
            },
        },
    ]


def test_without_a_metrics_list_the_seeds_targets_apply() -> None:
    hpa = build_hpa(make())
    targets = [(m["resource"]["name"], m["resource"]["target"]) for m in hpa["spec"]["metrics"]]
    assert targets == [
        ("cpu", {"type": "Utilization", "averageUtilization": 70}),
        ("memory", {"type": "Utilization", "averageUtilization": 80}),
    ]


# --------------------------------------------------------------------------------------
# the HPA's behavior


def test_default_behavior_adds_at_once_at_a_pace_and_removes_one_pod_a_minute() -> None:
    behavior = build_hpa(make())["spec"]["behavior"]
    assert behavior == {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 2, "periodSeconds": 60},
                {"type": "Percent", "value": 100, "periodSeconds": 60},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        },
    }


@pytest.mark.parametrize(
    ("autoscaling", "window"),
    [
        ({"scaleDownStabilizationSeconds": 120}, 120),
        ({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}, 30),
        (
            {
                "scaleDownStabilizationSeconds": 120,
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
            },
            0,
        ),
    ],
)
def test_the_scale_down_window_is_the_behaviors_else_the_older_field(
    autoscaling: dict[str, Any], window: int
) -> None:
    behavior = build_hpa(make({"autoscaling": autoscaling}))["spec"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == window


def test_behavior_policies_are_the_users_when_given() -> None:
    rules = {
        "stabilizationWindowSeconds": 15,
        "selectPolicy": "Min",
        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}],
    }
    behavior = build_hpa(make({"autoscaling": {"behavior": {"scaleUp": rules}}}))["spec"][
        "behavior"
    ]
    assert behavior["scaleUp"] == rules


# --------------------------------------------------------------------------------------
# the PodDisruptionBudget


@pytest.mark.parametrize(
    ("spec", "wanted"),
    [
        ({}, True),  # autoscaling 2..6
        ({"autoscaling": {"enabled": False}, "replicas": 2}, True),
        ({"autoscaling": {"enabled": False}, "replicas": 1}, False),
        ({"autoscaling": {"enabled": False}, "replicas": 0}, False),
        ({"autoscaling": {"minReplicas": 1, "maxReplicas": 1}}, False),
        ({"autoscaling": {"minReplicas": 1, "maxReplicas": 3}}, True),
        ({"podDisruptionBudget": {"enabled": False}}, False),
    ],
)
def test_a_budget_exists_while_the_service_can_run_two_pods(
    spec: dict[str, Any], wanted: bool
) -> None:
    service = make(spec)
    assert wants_budget(service) is wanted
    kinds = [c["kind"] for c in build_children(service)]
    assert ("PodDisruptionBudget" in kinds) is wanted


def test_the_default_budget_lets_one_pod_of_the_service_go_at_a_time() -> None:
    pdb = build_pdb(make())
    assert (pdb["apiVersion"], pdb["kind"]) == ("policy/v1", "PodDisruptionBudget")
    assert pdb["metadata"]["name"] == "chat"
    assert pdb["metadata"]["labels"] == naming.common_labels("chat")
    assert pdb["spec"] == {
        "selector": {"matchLabels": naming.selector_labels("chat")},
        "maxUnavailable": 1,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    # the budget counts exactly the Deployment's pods
    deployment = build_deployment(make())
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


@pytest.mark.parametrize(
    ("budget", "field", "value"),
    [
        ({"maxUnavailable": "25%"}, "maxUnavailable", "25%"),
        ({"maxUnavailable": 2}, "maxUnavailable", 2),
        ({"minAvailable": "50%"}, "minAvailable", "50%"),
        ({"minAvailable": 1}, "minAvailable", 1),
    ],
)
def test_the_budget_is_configurable(budget: dict[str, Any], field: str, value: Any) -> None:
    spec = build_pdb(make({"podDisruptionBudget": budget}))["spec"]
    assert spec[field] == value
    assert {"maxUnavailable", "minAvailable"} & spec.keys() == {field}
    for version in support.KUBERNETES_VERSIONS:
        kubernetes_validate.validate(build_pdb(make({"podDisruptionBudget": budget})), version)


@pytest.mark.parametrize("bad", [0, 1001, "0%", "101%", "half", "5", True])
def test_a_budget_value_is_a_count_or_a_percent(bad: Any) -> None:
    with pytest.raises(ValueError, match="podDisruptionBudget"):
        LLMServiceSpec.model_validate({"podDisruptionBudget": {"maxUnavailable": bad}}, strict=True)


# --------------------------------------------------------------------------------------
# topology spread


def spread_of(spec: dict[str, Any]) -> list[dict[str, Any]] | None:
    pod = build_deployment(make(spec))["spec"]["template"]["spec"]
    constraints: list[dict[str, Any]] | None = pod.get("topologySpreadConstraints")
    return constraints


def test_pods_spread_softly_over_nodes_by_default() -> None:
    assert spread_of({}) == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": naming.selector_labels("chat")},
        }
    ]


def test_the_spread_is_the_users_when_given_and_none_for_an_empty_list() -> None:
    zones = {
        "maxSkew": 2,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "minDomains": 3,
        "nodeTaintsPolicy": "Honor",
    }
    assert spread_of({"pod": {"topologySpreadConstraints": [zones]}}) == [
        {**zones, "labelSelector": {"matchLabels": naming.selector_labels("chat")}}
    ]
    assert spread_of({"pod": {"topologySpreadConstraints": []}}) is None


# --------------------------------------------------------------------------------------
# status.autoscaling: each metric's value, and the state that follows


def hpa(
    current: int,
    desired: int,
    in_flight: str | None = None,
    cpu: int | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    metrics: list[dict[str, Any]] = []
    if in_flight is not None:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "llmservice_backend_upstream_in_flight_requests"},
                    "current": {"averageValue": in_flight},
                },
            }
        )
    if cpu is not None:
        resource = {"name": "cpu", "current": {"averageUtilization": cpu}}
        metrics.append({"type": "Resource", "resource": resource})
    return {
        "status": {
            "currentReplicas": current,
            "desiredReplicas": desired,
            "currentMetrics": metrics,
            "conditions": conditions or [],
        }
    }


SCALES_ON_BOTH = LLMServiceSpec.model_validate(
    {
        "autoscaling": {
            "minReplicas": 1,
            "maxReplicas": 4,
            "metrics": [IN_FLIGHT, {"type": "CPU", "targetUtilizationPercentage": 70}],
        }
    }
)


def test_the_status_reports_each_metric_with_its_target_and_value() -> None:
    status = autoscaling_status(SCALES_ON_BOTH, hpa(2, 3, in_flight="4500m", cpu=35))
    assert status["metrics"] == [
        {"type": "InFlightRequests", "currentAverageValue": "4.5", "targetAverageValue": "3"},
        {"type": "CPU", "currentUtilizationPercentage": 35, "targetUtilizationPercentage": 70},
    ]
    assert status["state"] == "ScalingUp"


def test_a_metric_not_read_yet_has_its_target_only() -> None:
    status = autoscaling_status(SCALES_ON_BOTH, hpa(1, 1, cpu=10))
    assert status["metrics"][0] == {"type": "InFlightRequests", "targetAverageValue": "3"}


@pytest.mark.parametrize(
    ("observed", "state"),
    [
        (hpa(2, 4, in_flight="6"), "ScalingUp"),
        (hpa(3, 2, in_flight="1"), "ScalingDown"),
        (hpa(2, 2, in_flight="3", cpu=70), "Stable"),
        # held at maxReplicas with the load above target
        (hpa(4, 4, in_flight="5"), "AtMaximum"),
        # at minReplicas, every metric asking for fewer pods
        (hpa(1, 1, in_flight="0", cpu=5), "AtMinimum"),
        # at minReplicas, one metric still at its target
        (hpa(1, 1, in_flight="3", cpu=5), "Stable"),
        # scale-down held by the stabilization window: more pods than the metrics ask for
        (hpa(3, 3, in_flight="0", cpu=5), "Stable"),
        (
            hpa(
                2,
                2,
                conditions=[
                    {"type": "ScalingActive", "status": "False", "reason": "FailedGetPodsMetric"}
                ],
            ),
            "MetricsUnavailable",
        ),
    ],
)
def test_the_state_follows_from_the_counts_and_the_metrics(
    observed: dict[str, Any], state: str
) -> None:
    assert scaling_state(SCALES_ON_BOTH, observed) == state


@pytest.mark.parametrize(
    ("entries", "pressure"),
    [
        ([], "Unknown"),
        ([{"currentAverageValue": "3.4", "targetAverageValue": "3"}], "Above"),
        ([{"currentAverageValue": "3.3", "targetAverageValue": "3"}], "Within"),
        ([{"currentAverageValue": "2.7", "targetAverageValue": "3"}], "Within"),
        ([{"currentAverageValue": "2.5", "targetAverageValue": "3"}], "Below"),
        (
            [
                {"currentAverageValue": "0", "targetAverageValue": "3"},
                {"targetUtilizationPercentage": 70},
            ],
            "Within",  # one metric unread: not every one is known to be low
        ),
        (
            [
                {"currentAverageValue": "0", "targetAverageValue": "3"},
                {"currentUtilizationPercentage": 90, "targetUtilizationPercentage": 70},
            ],
            "Above",
        ),
    ],
)
def test_pressure_is_read_as_the_hpa_reads_it_with_its_tolerance(
    entries: list[dict[str, Any]], pressure: str
) -> None:
    assert scalingmetrics.pressure(entries) == pressure
