"""The spec of what an LLMService shows to the rest of the cluster: a Prometheus Operator
monitor for its metrics, a route from outside (Gateway API HTTPRoute or Ingress), and a
NetworkPolicy that says who may reach it.

Kept apart from :mod:`.models` so that these options can grow without touching the core
spec; :mod:`.models` imports them for ``LLMServiceSpec`` (after its base types are defined,
which is why this module may import those from it).
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from llmservice_operator.api.models import (
    ANNOTATIONS_MAX_BYTES,
    MAX_MAP_ENTRIES,
    Annotations,
    DNS1123Label,
    LabelValue,
    ObjectName,
    QualifiedName,
    _Model,
)

# A Prometheus duration as the Prometheus Operator's CRDs accept it (30s, 1m, 1m30s).
DURATION_PATTERN: Final = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
# A host name as the Gateway API and Ingress take it: DNS labels, a leading "*." allowed.
HOSTNAME_PATTERN: Final = (
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
# A Gateway listener's section name (the Gateway API's SectionName).
SECTION_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

Hostname = Annotated[str, Field(min_length=1, max_length=253, pattern=HOSTNAME_PATTERN)]


class MonitoringSpec(_Model):
    """A Prometheus Operator PodMonitor that scrapes the backend's metrics port."""

    enabled: bool = Field(
        False,
        description=(
            "Create a PodMonitor (monitoring.coreos.com/v1) for the pods' metrics port. Needs "
            "the Prometheus Operator's CRDs in the cluster: without them the service still "
            "runs and the Monitoring condition says why there is no monitor."
        ),
    )
    interval: str = Field(
        "30s",
        max_length=32,
        pattern=DURATION_PATTERN,
        description="How often Prometheus scrapes each pod (a Prometheus duration: 30s, 1m).",
    )
    labels: dict[QualifiedName, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_MAP_ENTRIES,
        description=(
            "Extra labels on the PodMonitor, for the podMonitorSelector of your Prometheus "
            "(release: prometheus, for instance); at most 32."
        ),
    )


class ParentReference(_Model):
    """The Gateway (and optionally its listener) an HTTPRoute attaches to."""

    name: ObjectName = Field(..., description="Name of the Gateway.")
    namespace: DNS1123Label | None = Field(
        None, description="Namespace of the Gateway; unset: the LLMService's own."
    )
    section_name: str | None = Field(
        None,
        max_length=253,
        pattern=SECTION_NAME_PATTERN,
        description="Name of the Gateway's listener; unset attaches to every listener.",
    )


class HTTPRouteSpec(_Model):
    """A Gateway API HTTPRoute (gateway.networking.k8s.io/v1) to the Service."""

    parent_refs: list[ParentReference] = Field(
        ...,
        min_length=1,
        max_length=32,
        description="The Gateways the route attaches to; at least one.",
    )
    hostnames: list[Hostname] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Host names the route answers for (a leading *. is a wildcard); empty: every "
            "host the Gateway's listener accepts."
        ),
    )
    timeout_seconds: int | None = Field(
        None,
        ge=0,
        le=86400,
        description=(
            "The route's request timeout (timeouts.request and backendRequest). Unset: "
            "spec.backend.timeouts.requestSeconds, so a long chat stream is never cut by the "
            "Gateway first; 0 leaves timeouts out, for Gateways without that extended feature "
            "(their own default applies: implementation-specific, 15 s in Envoy's defaults, "
            "too short for a chat answer)."
        ),
    )


class IngressSpec(_Model):
    """A networking.k8s.io/v1 Ingress to the Service."""

    class_name: ObjectName | None = Field(
        None, description="IngressClass; unset: the cluster's default class."
    )
    host: Hostname | None = Field(
        None,
        description="Host name the Ingress answers for; unset: every host.",
    )
    tls_secret_name: ObjectName | None = Field(
        None,
        description=(
            "Secret holding the TLS certificate for host (needs host); unset: plain HTTP."
        ),
    )
    annotations: Annotations = Field(
        default_factory=dict,
        description=(
            "Annotations on the Ingress: the controller's settings, such as its read "
            "timeout for long chat streams (docs/exposure.md); at most 32, of at most "
            f"{ANNOTATIONS_MAX_BYTES} bytes in all."
        ),
    )


class RouteSpec(_Model):
    """How the service is reached from outside the cluster: exactly one of httpRoute or
    ingress."""

    http_route: HTTPRouteSpec | None = Field(
        None, alias="httpRoute", description="A Gateway API HTTPRoute to the Service."
    )
    ingress: IngressSpec | None = Field(None, description="An Ingress to the Service.")


class NetworkPeer(_Model):
    """Pods allowed to reach the backend: of one namespace, optionally with labels."""

    namespace: DNS1123Label | None = Field(
        None, description="Namespace of the pods, by name; unset: the LLMService's own."
    )
    pod_labels: dict[QualifiedName, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_MAP_ENTRIES,
        description="Labels the pods must carry; empty: every pod of the namespace.",
    )


class NetworkPolicySpec(_Model):
    """A NetworkPolicy that admits traffic to the backend's port only from the pods named
    (and to the metrics port only from the namespaces named); Ollama's port is never
    admitted. Off by default: see docs/exposure.md."""

    enabled: bool = Field(
        False,
        description=(
            "Create the NetworkPolicy. Off by default: turning it on shuts out every client "
            "not named in allowFrom (an ingress controller or Gateway included), and it only "
            "takes effect where the cluster's network plugin enforces NetworkPolicies."
        ),
    )
    allow_from: list[NetworkPeer] = Field(
        default_factory=list,
        max_length=32,
        description=(
            "Who may reach the backend's port; empty: the pods of the LLMService's own "
            "namespace. Name the namespace of your ingress controller or Gateway here."
        ),
    )
    metrics_from_namespaces: list[DNS1123Label] = Field(
        default_factory=list,
        max_length=32,
        description=(
            "Namespaces (by name) whose pods may scrape the metrics port, such as your "
            "Prometheus's; empty: none."
        ),
    )
