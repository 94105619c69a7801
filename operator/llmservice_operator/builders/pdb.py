"""The PodDisruptionBudget (policy/v1) that paces voluntary disruptions of the pods.

A node drain or a cluster upgrade evicts pods through the eviction API, which honours the
budget: by default at most one of a service's pods is unavailable at a time, because a
replacement pod needs minutes (model pull and load) before it serves. A service that can
run only one pod gets no budget: a budget cannot keep a single pod serving through a drain
and would, written as minAvailable, block the drain for ever.

``unhealthyPodEvictionPolicy: AlwaysAllow``: a pod that is not Ready (crashing, or still
loading its model) serves nobody, so evicting it costs no capacity; with the Kubernetes
default such pods could block a drain while the budget is short.
"""

from __future__ import annotations

from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders.meta import object_meta

DEFAULT_MAX_UNAVAILABLE = 1


def most_pods(service: LLMService) -> int:
    """The most pods the service can run: maxReplicas while autoscaling, else replicas."""
    spec = service.spec
    return spec.autoscaling.max_replicas if spec.autoscaling.enabled else spec.replicas


def wants_budget(service: LLMService) -> bool:
    """Whether the service gets a PodDisruptionBudget: enabled, and 2 pods or more possible.

    Under autoscaling the count is the HPA's, so the budget exists whenever the service
    *can* run 2 pods (maxReplicas >= 2) even while it runs 1: ``maxUnavailable: 1`` never
    blocks the eviction of a lone pod, and protects the service once it has scaled up. (A
    ``minAvailable`` number at or above minReplicas would block it, which the CRD refuses.)
    """
    return service.spec.pod_disruption_budget.enabled and most_pods(service) >= 2


def build_pdb(service: LLMService) -> dict[str, Any]:
    """The budget; callers build it only when :func:`wants_budget`."""
    name = service.metadata.name
    budget = service.spec.pod_disruption_budget
    spec: dict[str, Any] = {"selector": {"matchLabels": naming.selector_labels(name)}}
    if budget.min_available is not None:
        spec["minAvailable"] = budget.min_available
    else:
        spec["maxUnavailable"] = (
            DEFAULT_MAX_UNAVAILABLE if budget.max_unavailable is None else budget.max_unavailable
        )
    spec["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(service, naming.pdb_name(name)),
        "spec": spec,
    }
