"""How a service's pods spread over nodes: the pod template's topologySpreadConstraints.

By default one soft constraint over nodes (``kubernetes.io/hostname``, maxSkew 1,
``ScheduleAnyway``): the scheduler places the pods on different nodes where it can, so a
node lost or drained takes as few of them as the cluster allows, yet a pod is never left
Pending for want of a spread (a one-node cluster still runs every pod). A user's list
replaces it; an empty list means none. Every constraint selects the service's own pods.
"""

from __future__ import annotations

from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService, TopologySpread


def spread_constraints(service: LLMService) -> list[dict[str, Any]]:
    """The pod template's topologySpreadConstraints (empty: none)."""
    wanted = service.spec.pod.topology_spread_constraints
    if wanted is None:
        wanted = [TopologySpread()]
    selector = {"matchLabels": naming.selector_labels(service.metadata.name)}
    out = []
    for spread in wanted:
        constraint: dict[str, Any] = {
            "maxSkew": spread.max_skew,
            "topologyKey": spread.topology_key,
            "whenUnsatisfiable": spread.when_unsatisfiable,
            "labelSelector": selector,
        }
        if spread.min_domains is not None:
            constraint["minDomains"] = spread.min_domains
        if spread.node_affinity_policy is not None:
            constraint["nodeAffinityPolicy"] = spread.node_affinity_policy
        if spread.node_taints_policy is not None:
            constraint["nodeTaintsPolicy"] = spread.node_taints_policy
        out.append(constraint)
    return out
