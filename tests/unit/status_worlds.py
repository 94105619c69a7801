"""The worlds the status tests observe: pods, a Deployment and an autoscaler as the API
server reports them, at a clock. Shared by the tests of what the status says
(test_status_semantics.py) and of what GitOps tools make of it (test_gitops_health.py), so
both read the same situations.

Imported as a module (``import status_worlds``): pytest puts this directory on ``sys.path``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from llmservice_operator.api.models import LLMServiceSpec
from llmservice_operator.core.status import (
    Observed,
    condition,
    format_time,
    project_pod,
)

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return format_time(START + timedelta(seconds=seconds))


def container(
    name: str = "backend",
    *,
    ready: bool = True,
    waiting: str | None = None,
    terminated: dict[str, Any] | None = None,
    last: dict[str, Any] | None = None,
    restarts: int = 0,
) -> dict[str, Any]:
    state: dict[str, Any]
    if waiting:
        state = {"waiting": {"reason": waiting}}
    elif terminated:
        state = {"terminated": terminated}
    else:
        state = {"running": {"startedAt": at(0)}}
    cs: dict[str, Any] = {"name": name, "ready": ready, "restartCount": restarts, "state": state}
    if last:
        cs["lastState"] = {"terminated": last}
    return cs


def oom(finished: float) -> dict[str, Any]:
    return {"reason": "OOMKilled", "exitCode": 137, "finishedAt": at(finished)}


def pull_failed(finished: float) -> dict[str, Any]:
    return {
        "reason": "Error",
        "exitCode": 3,
        "message": "model pull failed: pull model manifest: file does not exist",
        "finishedAt": at(finished),
    }


def running_pod(name: str, *containers: dict[str, Any]) -> dict[str, Any]:
    ready = all(c["ready"] for c in containers)
    return {
        "metadata": {"name": name},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": list(containers or [container()]),
        },
    }


def pending_pod(name: str, since: float) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient cpu.",
                    "lastTransitionTime": at(since),
                }
            ],
        },
    }


def deployment(
    *, spec_replicas: int, replicas: int, ready: int, updated: int | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": "chat", "generation": 1},
        "spec": {"replicas": spec_replicas},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": replicas if updated is None else updated,
        },
    }


def hpa(current: int, desired: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "chat"},
        "spec": {"minReplicas": 2, "maxReplicas": 6},
        "status": {"currentReplicas": current, "desiredReplicas": desired},
    }


def world(now: float, pods: list[dict[str, Any]], **over: Any) -> Observed:
    values: dict[str, Any] = {
        "name": "chat",
        "namespace": "ns",
        "generation": 1,
        "spec": LLMServiceSpec.model_validate({}),
        "deployment": deployment(spec_replicas=2, replicas=2, ready=2),
        "hpa": hpa(2, 2),
        "pods": [project_pod(p) for p in pods],
        "now": at(now),
    }
    values.update(over)
    return Observed(**values)


def summary(status: dict[str, Any]) -> tuple[str, str, str, str]:
    def read(type_: str) -> str:
        found = condition(status, type_) or {}
        return f"{found.get('status')}/{found.get('reason')}"

    return status["phase"], read("Ready"), read("Progressing"), read("Degraded")
