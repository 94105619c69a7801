"""The HorizontalPodAutoscaler (autoscaling/v2) that sizes the Deployment."""

from __future__ import annotations

from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService, ScalingMetric
from llmservice_operator.builders.meta import object_meta

_RESOURCES = {"CPU": "cpu", "Memory": "memory"}


def hpa_metric(metric: ScalingMetric) -> dict[str, Any]:
    """One entry of the HPA's ``metrics``.

    CPU and Memory are Resource metrics (utilization against the pods' requests, from the
    resource metrics API). InFlightRequests and QueuedRequests are Pods metrics: the HPA
    reads each pod's value from the custom metrics API and aims the average at the target.
    """
    if metric.type in _RESOURCES:
        return {
            "type": "Resource",
            "resource": {
                "name": _RESOURCES[metric.type],
                "target": {
                    "type": "Utilization",
                    "averageUtilization": metric.target_utilization_percentage,
                },
            },
        }
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": metric.effective_metric_name()},
            "target": {"type": "AverageValue", "averageValue": str(metric.target_average_value)},
        },
    }


def _policies(rules: Any) -> list[dict[str, Any]]:
    return [
        {"type": p.type, "value": p.value, "periodSeconds": p.period_seconds}
        for p in rules.policies
    ]


def hpa_behavior(service: LLMService) -> dict[str, Any]:
    """The HPA's ``behavior``: stabilization windows and rate limits both ways, written in
    full so the HPA's own defaults (4 pods or 100 % every 15 s up) never apply."""
    auto = service.spec.autoscaling
    up, down = auto.behavior.scale_up, auto.behavior.scale_down
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": up.stabilization_window_seconds,
            "selectPolicy": up.select_policy,
            "policies": _policies(up),
        },
        "scaleDown": {
            "stabilizationWindowSeconds": auto.scale_down_window(),
            "selectPolicy": down.select_policy,
            "policies": _policies(down),
        },
    }


def build_hpa(service: LLMService) -> dict[str, Any]:
    """The autoscaler; callers build it only while ``spec.autoscaling.enabled``.

    The metrics are ``spec.autoscaling.metrics``, or the two utilization targets when that
    list is unset. With none at all the metrics list is left out and Kubernetes applies its
    own default (80 % CPU); the CRD rejects that spec, so only a hand-made object reaches
    that case. Utilization is measured against the pods' requests, Ollama's sidecar
    included (Kubernetes >= 1.29 counts restartable init containers), which is why both
    containers carry cpu and memory requests.
    """
    auto = service.spec.autoscaling
    name = service.metadata.name
    metrics = [hpa_metric(m) for m in auto.effective_metrics()]
    spec: dict[str, Any] = {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": naming.deployment_name(name),
        },
        "minReplicas": auto.min_replicas,
        "maxReplicas": auto.max_replicas,
    }
    if metrics:
        spec["metrics"] = metrics
    spec["behavior"] = hpa_behavior(service)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(service, naming.hpa_name(name)),
        "spec": spec,
    }
