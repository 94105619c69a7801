"""The simulated kubelet's reports (llmservice_testkit.cluster.podstatus) in the shapes the
operator's status reads, and the operator's verdict on each."""

from __future__ import annotations

from typing import Any

import pytest
from llmservice_operator.core import status
from llmservice_testkit.cluster import podstatus

AT = "2026-12-04T08:00:00Z"


def pod(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "chat-abc", "uid": "u1", "annotations": annotations or {}},
        "spec": {
            "initContainers": [
                {"name": "ollama", "image": "ollama/ollama:1", "restartPolicy": "Always"}
            ],
            "containers": [{"name": "backend", "image": "example/backend:1"}],
        },
        "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]},
    }


def report(p: dict[str, Any], ready: bool = True) -> dict[str, Any]:
    return podstatus.pod_status(
        p, host_ip="192.0.2.1", pod_ip="10.244.0.3", started_at=AT, now=AT, ready=ready
    )


def conditions(s: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in s["conditions"]}


def test_a_healthy_pod_runs_at_once_and_is_ready_after_its_delay() -> None:
    starting = report(pod(), ready=False)
    assert starting["phase"] == "Running"
    assert conditions(starting)["Ready"] == "False"
    assert starting["initContainerStatuses"][0]["state"] == {"running": {"startedAt": AT}}
    ready = report(pod())
    assert conditions(ready) == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }
    assert status.pod_problems({"metadata": {"name": "chat-abc"}, "status": ready}) == []


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("CrashLoopBackOff", status.CRASH_LOOP),
        ("OOMKilled:ollama", status.OOM_KILLED),
        ("ImagePullBackOff:ollama", status.IMAGE_PULL),
        ("ImagePullBackOff", status.IMAGE_PULL),
        ("ModelPullFailed", status.MODEL_PULL_FAILED),
    ],
)
def test_each_fault_is_read_by_the_operator_as_its_reason(fault: str, reason: str) -> None:
    reported = report(pod({podstatus.FAULT: fault}))
    problems = status.pod_problems({"metadata": {"name": "chat-abc"}, "status": reported})
    assert problems
    assert problems[0].reason == reason
    assert "chat-abc" in problems[0].message
    assert conditions(reported)["Ready"] == "False"


def test_a_sidecar_that_cannot_start_holds_the_pod_pending() -> None:
    reported = report(pod({podstatus.FAULT: "ImagePullBackOff:ollama"}))
    assert reported["phase"] == "Pending"
    assert reported["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_not_ready_runs_without_problems_and_never_gets_ready() -> None:
    reported = report(pod({podstatus.FAULT: "NotReady"}))
    assert reported["phase"] == "Running"
    assert conditions(reported)["Ready"] == "False"
    assert status.pod_problems({"metadata": {"name": "chat-abc"}, "status": reported}) == []


def test_an_unknown_fault_is_an_error_naming_the_annotation() -> None:
    with pytest.raises(ValueError, match=r"testkit\.llmservice\.dev/fault: unknown fault 'Oops'"):
        report(pod({podstatus.FAULT: "Oops"}))


def test_the_summary_ignores_timestamps_but_not_readiness() -> None:
    a = report(pod(), ready=False)
    b = podstatus.pod_status(
        pod(), host_ip="x", pod_ip="y", started_at="2030-01-01T00:00:00Z", now="later", ready=False
    )
    assert podstatus.summary(a) == podstatus.summary(b)
    assert podstatus.summary(a) != podstatus.summary(report(pod(), ready=True))


def test_ready_after_annotation_overrides_the_default_delay() -> None:
    assert podstatus.ready_delay(pod({podstatus.READY_AFTER: "5"}), 1.0) == 5.0
    assert podstatus.ready_delay(pod({podstatus.READY_AFTER: "soon"}), 1.0) == 1.0
    assert podstatus.ready_delay(pod(), 1.0) == 1.0


def test_a_report_read_back_from_the_api_server_needs_no_new_report() -> None:
    """The agent compares its report with the status the API server holds: the same after
    a JSON round trip, different once the node lifecycle controller has marked it not
    ready (then the agent reports again)."""
    import json

    reported = report(pod())
    stored = json.loads(json.dumps(reported))
    assert podstatus.summary(stored) == podstatus.summary(reported)
    for cond in stored["conditions"]:
        if cond["type"] == "Ready":
            cond.update(status="False", reason="NodeNotReady")
    assert podstatus.summary(stored) != podstatus.summary(reported)
    assert podstatus.summary({}) != podstatus.summary(reported)


@pytest.mark.parametrize(
    ("fault", "container"), [("OOMKilled:ollama", "ollama"), ("CrashLoopBackOff", "backend")]
)
def test_a_recovered_container_keeps_its_last_termination_and_no_longer_counts(
    fault: str, container: str
) -> None:
    """Removing the fault: the container runs and is ready again, its restart count and
    last termination kept as the kubelet keeps them; the operator reads no problem."""
    failing = pod({podstatus.FAULT: fault})
    failing["status"] = report(failing)
    recovered = {**failing, "metadata": {**failing["metadata"], "annotations": {}}}
    now = report(recovered)
    statuses = {cs["name"]: cs for cs in now["containerStatuses"] + now["initContainerStatuses"]}
    assert statuses[container]["ready"] is True
    assert statuses[container]["restartCount"] == 3
    assert statuses[container]["lastState"]["terminated"]["exitCode"] in (1, 137)
    assert conditions(now)["Ready"] == "True"
    assert status.pod_problems({"metadata": {"name": "chat-abc"}, "status": now}) == []
