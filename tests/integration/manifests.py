"""Plain Deployment and HPA manifests for the API-server tests that exercise built-in kinds.

Shared so the client-library tests and the kubectl tests apply exactly the same objects.
"""

from __future__ import annotations

from typing import Any


def deployment(name: str, replicas: int, containers: list[dict[str, Any]]) -> dict[str, Any]:
    """A Deployment whose selector and pod labels are ``app: <name>``."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
        },
    }


def cpu_hpa(name: str) -> dict[str, Any]:
    """An autoscaling/v2 HPA for the Deployment of the same name: 2 to 6 pods at 70 % CPU."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
