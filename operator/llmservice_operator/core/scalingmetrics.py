"""What the autoscaler reads of each metric it scales on, for ``status.autoscaling``.

Pure: the spec's metrics (what the HPA was built with) against the HPA's
``status.currentMetrics``. Each metric of the spec gets an entry with its target, and its
current value once the HPA has read one: utilization in percent for CPU and Memory, the
per-pod average as a plain decimal ("2.5", not the API's "2500m") for the request metrics.

:func:`pressure` says how the values stand against their targets, which is what the HPA
acts on: above (it wants more pods), below (fewer), or within its tolerance. The state
reported in ``status.autoscaling.state`` uses it where the HPA's own counts and conditions
leave the answer open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from kubernetes.utils.quantity import parse_quantity

from llmservice_operator.api.models import AutoscalingSpec, ScalingMetric

Obj = Mapping[str, Any]
# The HPA controller's default tolerance (--horizontal-pod-autoscaler-tolerance): it does
# not act while every ratio of current to target is within 10 % of 1.
TOLERANCE = Decimal("0.1")
_RESOURCES = {"CPU": "cpu", "Memory": "memory"}


def _decimal_text(value: Any) -> str | None:
    """A quantity as a plain decimal: "2500m" -> "2.5", "3" -> "3"."""
    try:
        number = parse_quantity(value)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, ArithmeticError, InvalidOperation):
        return None
    text = format(Decimal(number).normalize(), "f")
    return text


def _current(metric: ScalingMetric, reported: Sequence[Obj]) -> Obj | None:
    """The HPA's currentMetrics entry for ``metric``, if it has one."""
    for entry in reported:
        if metric.type in _RESOURCES:
            if entry.get("type") != "Resource":
                continue
            resource = entry.get("resource") or {}
            if resource.get("name") == _RESOURCES[metric.type]:
                return dict(resource.get("current") or {})
        elif entry.get("type") == "Pods":
            pods = entry.get("pods") or {}
            if (pods.get("metric") or {}).get("name") == metric.effective_metric_name():
                return dict(pods.get("current") or {})
    return None


def metric_statuses(auto: AutoscalingSpec, hpa: Obj | None) -> list[dict[str, Any]]:
    """``status.autoscaling.metrics``: each metric's target and current value."""
    reported = ((hpa or {}).get("status") or {}).get("currentMetrics") or ()
    out: list[dict[str, Any]] = []
    for metric in auto.effective_metrics():
        current = _current(metric, reported) or {}
        entry: dict[str, Any] = {"type": metric.type}
        if metric.type in _RESOURCES:
            value = current.get("averageUtilization")
            if isinstance(value, int) and not isinstance(value, bool):
                entry["currentUtilizationPercentage"] = max(0, value)
            entry["targetUtilizationPercentage"] = metric.target_utilization_percentage
        else:
            text = _decimal_text(current.get("averageValue"))
            if text is not None:
                entry["currentAverageValue"] = text
            entry["targetAverageValue"] = str(metric.target_average_value)
        out.append(entry)
    return out


def _ratio(entry: Obj) -> Decimal | None:
    if "currentUtilizationPercentage" in entry:
        target = Decimal(entry["targetUtilizationPercentage"])
        return Decimal(entry["currentUtilizationPercentage"]) / target
    if "currentAverageValue" in entry:
        return Decimal(entry["currentAverageValue"]) / Decimal(entry["targetAverageValue"])
    return None


Pressure = Literal["Above", "Below", "Within", "Unknown"]


def pressure(statuses: Sequence[Obj]) -> Pressure:
    """How the metrics stand against their targets, as the HPA decides: Above when any
    ratio exceeds 1 + tolerance (the highest recommendation wins), Below when every one is
    under 1 - tolerance, Within otherwise; Unknown while no value has been read."""
    ratios = [r for r in (_ratio(e) for e in statuses) if r is not None]
    if not ratios:
        return "Unknown"
    if any(r > 1 + TOLERANCE for r in ratios):
        return "Above"
    if len(ratios) == len(statuses) and all(r < 1 - TOLERANCE for r in ratios):
        return "Below"
    return "Within"
