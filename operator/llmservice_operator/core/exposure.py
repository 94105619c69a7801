"""The conditions of the options that show a service to the cluster: ``Monitoring`` (the
PodMonitor) and ``Route`` (the HTTPRoute or Ingress). Pure.

Each is present only while its option is asked for. When the cluster does not serve the
kind the option needs (the Prometheus Operator's or the Gateway API's CRDs are not
installed), the condition is False with a reason saying which, and nothing else changes:
the phase, Ready and Degraded speak of whether the service serves chat, which it does; a
missing monitor is a gap in the cluster's tooling, not a fault of the service, and must
not turn GitOps health checks (Ready, Stalled) red or page anyone for it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from llmservice_operator.api.models import LLMServiceSpec

MONITORING: Final = "Monitoring"
ROUTE: Final = "Route"
EXPOSURE_CONDITIONS: Final = (MONITORING, ROUTE)

PROMETHEUS_OPERATOR_MISSING: Final = "PrometheusOperatorMissing"
GATEWAY_API_MISSING: Final = "GatewayAPIMissing"
POD_MONITOR_CREATED: Final = "PodMonitorCreated"
HTTPROUTE_CREATED: Final = "HTTPRouteCreated"
INGRESS_CREATED: Final = "IngressCreated"


def _condition(type_: str, ok: bool, reason: str, message: str) -> dict[str, str]:
    status = "True" if ok else "False"
    return {"type": type_, "status": status, "reason": reason, "message": message}


def exposure_conditions(
    spec: LLMServiceSpec, name: str, missing: Collection[str], recheck_seconds: float
) -> list[dict[str, str]]:
    """The Monitoring and Route conditions; ``missing`` are the child kinds the spec asks
    for that the cluster does not serve."""
    out: list[dict[str, str]] = []
    again = f"the operator looks again every {recheck_seconds:g} s"
    if spec.monitoring.enabled:
        if "PodMonitor" in missing:
            out.append(
                _condition(
                    MONITORING,
                    False,
                    PROMETHEUS_OPERATOR_MISSING,
                    "spec.monitoring.enabled is true but the cluster does not serve "
                    "monitoring.coreos.com/v1 PodMonitor (the Prometheus Operator's CRDs are "
                    f"not installed): the service runs without a monitor; {again}",
                )
            )
        else:
            out.append(
                _condition(
                    MONITORING,
                    True,
                    POD_MONITOR_CREATED,
                    f"PodMonitor {name} scrapes the pods' metrics port every "
                    f"{spec.monitoring.interval}",
                )
            )
    route = spec.route
    if route is not None and route.http_route is not None:
        if "HTTPRoute" in missing:
            out.append(
                _condition(
                    ROUTE,
                    False,
                    GATEWAY_API_MISSING,
                    "spec.route.httpRoute is set but the cluster does not serve "
                    "gateway.networking.k8s.io/v1 HTTPRoute (the Gateway API's CRDs are not "
                    f"installed): the service is reachable inside the cluster only; {again}",
                )
            )
        else:
            out.append(_condition(ROUTE, True, HTTPROUTE_CREATED, f"HTTPRoute {name}"))
    elif route is not None and route.ingress is not None:
        out.append(_condition(ROUTE, True, INGRESS_CREATED, f"Ingress {name}"))
    return out


def exposure_warnings(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """(reason, message) of each exposure condition that has just turned False: worth one
    Warning event, not one per pass."""
    before = {c.get("type"): c for c in old}
    out: list[tuple[str, str]] = []
    for cond in new:
        if cond.get("type") not in EXPOSURE_CONDITIONS or cond.get("status") != "False":
            continue
        prev = before.get(cond.get("type")) or {}
        if (prev.get("status"), prev.get("reason")) != ("False", cond.get("reason")):
            out.append((str(cond.get("reason")), str(cond.get("message", ""))))
    return out
