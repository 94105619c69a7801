"""Pure builders: a validated LLMService in, the manifests of its children out.

Nothing here reads the cluster or the clock, so the operator, ``render`` and the tests all
get the very same objects for the same spec.
"""

from __future__ import annotations

from typing import Any

from llmservice_operator.api.models import LLMService
from llmservice_operator.builders.deployment import build_deployment
from llmservice_operator.builders.hpa import build_hpa
from llmservice_operator.builders.monitor import build_pod_monitor
from llmservice_operator.builders.networkpolicy import build_network_policy
from llmservice_operator.builders.pdb import build_pdb, wants_budget
from llmservice_operator.builders.route import build_route
from llmservice_operator.builders.service import build_service
from llmservice_operator.builders.storage import build_model_claim, creates_claim

__all__ = [
    "build_children",
    "build_deployment",
    "build_hpa",
    "build_model_claim",
    "build_network_policy",
    "build_pdb",
    "build_pod_monitor",
    "build_route",
    "build_service",
    "creates_claim",
    "wants_budget",
]


def build_children(service: LLMService) -> list[dict[str, Any]]:
    """Every child of ``service``, in the order they are best applied: the model claim
    (when the operator creates one) before the pods that mount it, the Deployment, its
    Service, the HorizontalPodAutoscaler only while autoscaling is enabled, and the
    PodDisruptionBudget only while the service can run 2 pods or more; then what shows the
    service to the cluster, each only while asked for: the NetworkPolicy, the route
    (HTTPRoute or Ingress) and the PodMonitor."""
    children: list[dict[str, Any]] = []
    if creates_claim(service):
        children.append(build_model_claim(service))
    children.append(build_deployment(service))
    children.append(build_service(service))
    if service.spec.autoscaling.enabled:
        children.append(build_hpa(service))
    if wants_budget(service):
        children.append(build_pdb(service))
    children.extend(build_exposure(service))
    return children


def build_exposure(service: LLMService) -> list[dict[str, Any]]:
    """The NetworkPolicy, the route and the PodMonitor the spec asks for (none by default)."""
    out: list[dict[str, Any]] = []
    if service.spec.network_policy.enabled:
        out.append(build_network_policy(service))
    route = build_route(service)
    if route is not None:
        out.append(route)
    if service.spec.monitoring.enabled:
        out.append(build_pod_monitor(service))
    return out
