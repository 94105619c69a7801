"""The HorizontalPodAutoscaler (autoscaling/v2) that sizes the Deployment."""

from __future__ import annotations

from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders.meta import object_meta


def _utilization(resource: str, percent: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": resource,
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }


def build_hpa(service: LLMService) -> dict[str, Any]:
    """The autoscaler; callers build it only while ``spec.autoscaling.enabled``.

    Only the targets that are set become metrics. With neither set the metrics list is
    left out and Kubernetes applies its own default (80 % CPU); the CRD rejects that spec,
    so only a hand-made object reaches that case. Utilization is measured against the
    pods' requests, Ollama's sidecar included (Kubernetes >= 1.29 counts restartable
    init containers), which is why both containers carry cpu and memory requests.
    """
    auto = service.spec.autoscaling
    name = service.metadata.name
    metrics = []
    if auto.target_cpu_utilization_percentage is not None:
        metrics.append(_utilization("cpu", auto.target_cpu_utilization_percentage))
    if auto.target_memory_utilization_percentage is not None:
        metrics.append(_utilization("memory", auto.target_memory_utilization_percentage))
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
    spec["behavior"] = {
        "scaleDown": {"stabilizationWindowSeconds": auto.scale_down_stabilization_seconds}
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(service, naming.hpa_name(name)),
        "spec": spec,
    }
