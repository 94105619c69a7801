"""The NetworkPolicy that says who may reach an LLMService's pods.

It selects the pods and lists ingress only: the backend's port from the peers named in
``spec.networkPolicy.allowFrom`` (the LLMService's own namespace when none are named), and
the metrics port from the namespaces in ``metricsFromNamespaces``. Every other port of the
pods, Ollama's above all, is then closed to other pods: a policy of type Ingress denies
what it does not admit. Egress is left alone (the pods pull their model from a registry).
"""

from __future__ import annotations

from typing import Any, Final

from llmservice_operator.api import naming
from llmservice_operator.api.exposure import NetworkPeer
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders.deployment import metrics_port
from llmservice_operator.builders.meta import object_meta

API_VERSION: Final = "networking.k8s.io/v1"
KIND: Final = "NetworkPolicy"
# Every namespace carries its own name under this label (Kubernetes >= 1.22).
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"


def network_policy_name(name: str) -> str:
    return name


def _peer(peer: NetworkPeer, own_namespace: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    namespace = peer.namespace
    if namespace is not None and namespace != own_namespace:
        out["namespaceSelector"] = {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}
    # A peer with a podSelector only means pods of the policy's own namespace.
    out["podSelector"] = {"matchLabels": dict(peer.pod_labels)} if peer.pod_labels else {}
    return out


def build_network_policy(service: LLMService) -> dict[str, Any]:
    """The NetworkPolicy; callers build it only while ``spec.networkPolicy.enabled``."""
    spec = service.spec.network_policy
    name = service.metadata.name
    peers = spec.allow_from or [NetworkPeer()]
    own = service.metadata.namespace
    ingress: list[dict[str, Any]] = [
        {
            "from": [_peer(p, own) for p in peers],
            "ports": [{"protocol": "TCP", "port": service.spec.backend.port}],
        }
    ]
    if spec.metrics_from_namespaces:
        ingress.append(
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: ns}}}
                    for ns in spec.metrics_from_namespaces
                ],
                "ports": [{"protocol": "TCP", "port": metrics_port(service.spec.backend.port)}],
            }
        )
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": object_meta(service, network_policy_name(name)),
        "spec": {
            "podSelector": {"matchLabels": naming.selector_labels(name)},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }
