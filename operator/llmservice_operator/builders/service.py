"""The Service in front of an LLMService's pods: the backend's port, never Ollama's."""

from __future__ import annotations

from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders.deployment import BACKEND_PORT_NAME
from llmservice_operator.builders.meta import object_meta


def build_service(service: LLMService) -> dict[str, Any]:
    """The Service. It targets the backend's port by name, so a port change rolls cleanly.

    A fixed ``nodePort`` is only written for NodePort and LoadBalancer Services: a ClusterIP
    Service has no node ports and the API server would reject one.
    """
    spec = service.spec.service
    port: dict[str, Any] = {
        "name": BACKEND_PORT_NAME,
        "port": spec.port,
        "targetPort": BACKEND_PORT_NAME,
        "protocol": "TCP",
    }
    if spec.node_port is not None and spec.type != "ClusterIP":
        port["nodePort"] = spec.node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(
            service, naming.service_name(service.metadata.name), spec.annotations
        ),
        "spec": {
            "type": spec.type,
            "selector": naming.selector_labels(service.metadata.name),
            "ports": [port],
        },
    }
