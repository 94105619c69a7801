"""The values a test gives pods, per metric: by pod name, or for every pod whose labels
include a set of labels (new pods of a Deployment then get them too).

Thread-safe: tests set values from their own thread while the server reads them on its
event loop. Values are Kubernetes quantities, kept as the strings the server answers with.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Kubernetes' quantity grammar (resource.Quantity): a decimal number and an optional binary,
# decimal or exponent suffix.
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")

Quantity = int | float | Decimal | str


def quantity(value: Quantity) -> str:
    """``value`` as a quantity string: integers as they are, fractions in thousandths
    (``2.5`` is ``2500m``, how the API server itself writes them), strings checked."""
    if isinstance(value, bool):
        raise TypeError(f"a metric value must be a number or a quantity string, not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not _QUANTITY.match(text):
            raise ValueError(f"not a Kubernetes quantity: {value!r} (e.g. 3, 250m, 512Mi)")
        return text
    if isinstance(value, int):
        return str(value)
    exact = Decimal(str(value)) if isinstance(value, float) else value
    if not exact.is_finite():
        raise ValueError(f"a metric value must be finite, not {value!r}")
    if exact == exact.to_integral_value():
        return str(int(exact))
    milli = (exact * 1000).to_integral_value()
    if milli != exact * 1000:
        raise ValueError(f"{value!r} has more precision than thousandths (a quantity's m)")
    return f"{int(milli)}m"


@dataclass(frozen=True)
class _Key:
    namespace: str
    metric: str
    pod: str | None  # a pod by name, or None: every pod carrying ``labels``
    labels: tuple[tuple[str, str], ...]


class MetricValues:
    """What each pod reports. A pod's own value wins over those set for labels; among the
    label sets a pod matches, the one set last wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[_Key, str] = {}  # insertion order: the last set is the last

    def set(
        self,
        namespace: str,
        metric: str,
        value: Quantity,
        *,
        pod: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Give ``metric`` the ``value`` for one pod (``pod``), for the pods carrying
        ``labels``, or (neither) for every pod of ``namespace``."""
        key = _key(namespace, metric, pod, labels)
        text = quantity(value)
        with self._lock:
            self._values.pop(key, None)
            self._values[key] = text

    def unset(
        self,
        namespace: str,
        metric: str,
        *,
        pod: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Forget one value set with the same arguments (pods then report none for it)."""
        with self._lock:
            self._values.pop(_key(namespace, metric, pod, labels), None)

    def clear(self, namespace: str | None = None) -> None:
        """Forget every value (of ``namespace`` only, when given)."""
        with self._lock:
            for key in [k for k in self._values if namespace in (None, k.namespace)]:
                del self._values[key]

    def metrics(self) -> list[str]:
        """The metric names with a value anywhere (the custom metrics API lists them)."""
        with self._lock:
            return sorted({k.metric for k in self._values})

    def for_pod(self, pod: Mapping[str, Any], metric: str) -> str | None:
        """The value ``pod`` (an object as the API server returns it) reports, or None."""
        meta = pod.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        pod_labels = meta.get("labels") or {}
        with self._lock:
            own = self._values.get(_Key(namespace, metric, name, ()))
            if own is not None:
                return own
            for key, value in reversed(self._values.items()):
                if (
                    key.pod is None
                    and key.namespace == namespace
                    and key.metric == metric
                    and all(pod_labels.get(k) == v for k, v in key.labels)
                ):
                    return value
        return None


def _key(namespace: str, metric: str, pod: str | None, labels: Mapping[str, str] | None) -> _Key:
    if not namespace:
        raise ValueError("namespace: a metric value belongs to pods of one namespace")
    if not metric or "/" in metric:
        raise ValueError(f"metric: {metric!r} is not a metric name")
    if pod is not None and labels is not None:
        raise ValueError("pod and labels: give one pod or a set of labels, not both")
    if pod == "":
        raise ValueError("pod: empty pod name")
    return _Key(namespace, metric, pod, tuple(sorted((labels or {}).items())))
