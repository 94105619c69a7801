"""The Prometheus Operator PodMonitor that scrapes the backend's metrics.

A PodMonitor rather than a ServiceMonitor: the backend serves ``/metrics`` on a port of its
own (``metrics``), which the Service deliberately leaves out (clients of the chat API have
no business there); a PodMonitor scrapes the pods' named port directly, so the Service
stays as it is and every pod is scraped, ready or not (a pod stuck loading its model is
exactly the one worth watching).
"""

from __future__ import annotations

from typing import Any, Final

from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders.deployment import METRICS_PORT_NAME
from llmservice_operator.builders.meta import object_meta

API_VERSION: Final = "monitoring.coreos.com/v1"
KIND: Final = "PodMonitor"


def monitor_name(name: str) -> str:
    return name


def build_pod_monitor(service: LLMService) -> dict[str, Any]:
    """The PodMonitor; callers build it only while ``spec.monitoring.enabled``."""
    spec = service.spec.monitoring
    name = service.metadata.name
    meta = object_meta(service, monitor_name(name))
    # The user's labels are for Prometheus's podMonitorSelector; ours win on a clash, as
    # they do on the pods.
    meta["labels"] = {**spec.labels, **meta["labels"]}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": naming.selector_labels(name)},
            "podMetricsEndpoints": [
                {"port": METRICS_PORT_NAME, "path": "/metrics", "interval": spec.interval}
            ],
        },
    }
