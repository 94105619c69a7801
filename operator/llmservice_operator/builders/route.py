"""The route from outside the cluster to the Service: a Gateway API HTTPRoute or an Ingress.

Either sends every path to the Service's port. A chat answer is streamed for as long as the
model writes, minutes on a CPU, so the HTTPRoute carries a request timeout as long as the
backend's own (``spec.backend.timeouts.requestSeconds``) unless told otherwise: without
one the timeout is the Gateway's own (Envoy's default route timeout is 15 s). An Ingress
has no portable timeout field; the controller's annotations say it (docs/exposure.md).
"""

from __future__ import annotations

from typing import Any, Final

from llmservice_operator.api import naming
from llmservice_operator.api.exposure import HTTPRouteSpec, IngressSpec
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders.meta import object_meta

HTTPROUTE_API_VERSION: Final = "gateway.networking.k8s.io/v1"
HTTPROUTE_KIND: Final = "HTTPRoute"
INGRESS_API_VERSION: Final = "networking.k8s.io/v1"
INGRESS_KIND: Final = "Ingress"


def route_name(name: str) -> str:
    return name


def build_route(service: LLMService) -> dict[str, Any] | None:
    """The route ``spec.route`` asks for, or None when there is none."""
    route = service.spec.route
    if route is None:
        return None
    if route.http_route is not None:
        return build_http_route(service, route.http_route)
    if route.ingress is not None:
        return build_ingress(service, route.ingress)
    return None


def _parent_ref(ref: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": ref.name,
    }
    if ref.namespace is not None:
        out["namespace"] = ref.namespace
    if ref.section_name is not None:
        out["sectionName"] = ref.section_name
    return out


def build_http_route(service: LLMService, spec: HTTPRouteSpec) -> dict[str, Any]:
    name = service.metadata.name
    timeout = spec.timeout_seconds
    if timeout is None:
        timeout = service.spec.backend.timeouts.request_seconds
    rule: dict[str, Any] = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [
            {
                "group": "",
                "kind": "Service",
                "name": naming.service_name(name),
                "port": service.spec.service.port,
                "weight": 1,
            }
        ],
    }
    if timeout:
        rule["timeouts"] = {"request": f"{timeout}s", "backendRequest": f"{timeout}s"}
    route_spec: dict[str, Any] = {"parentRefs": [_parent_ref(r) for r in spec.parent_refs]}
    if spec.hostnames:
        route_spec["hostnames"] = list(spec.hostnames)
    route_spec["rules"] = [rule]
    return {
        "apiVersion": HTTPROUTE_API_VERSION,
        "kind": HTTPROUTE_KIND,
        "metadata": object_meta(service, route_name(name)),
        "spec": route_spec,
    }


def build_ingress(service: LLMService, spec: IngressSpec) -> dict[str, Any]:
    name = service.metadata.name
    http = {
        "paths": [
            {
                "path": "/",
                "pathType": "Prefix",
                "backend": {
                    "service": {
                        "name": naming.service_name(name),
                        "port": {"number": service.spec.service.port},
                    }
                },
            }
        ]
    }
    rule: dict[str, Any] = {"http": http}
    if spec.host is not None:
        rule = {"host": spec.host, "http": http}
    ingress_spec: dict[str, Any] = {}
    if spec.class_name is not None:
        ingress_spec["ingressClassName"] = spec.class_name
    if spec.tls_secret_name is not None and spec.host is not None:
        ingress_spec["tls"] = [{"hosts": [spec.host], "secretName": spec.tls_secret_name}]
    ingress_spec["rules"] = [rule]
    return {
        "apiVersion": INGRESS_API_VERSION,
        "kind": INGRESS_KIND,
        "metadata": object_meta(service, route_name(name), spec.annotations),
        "spec": ingress_spec,
    }
