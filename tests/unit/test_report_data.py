"""The report's pure parts: counting pods and containers, pod status words, HPA state, ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders import build_deployment
from llmservice_operator.tools import report

NOW = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)


def _stamp(ago: timedelta) -> str:
    return (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def _running(name: str, *, ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": _stamp(timedelta(minutes=5))}},
    }


def _pod(
    name: str,
    *,
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    ready: bool = True,
    **status: Any,
) -> dict[str, Any]:
    """A pod of the real template (Ollama as a native sidecar, the backend) by default."""
    template = build_deployment(LLMService.model_validate({"metadata": {"name": "chat"}}))
    spec = template["spec"]["template"]["spec"]
    return {
        "metadata": {"name": name, "creationTimestamp": _stamp(timedelta(hours=2))},
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "initContainerStatuses": init if init is not None else [_running("ollama")],
            "containerStatuses": containers if containers is not None else [_running("backend")],
            **status,
        },
    }


def test_the_ollama_sidecar_counts_as_a_container_and_plain_init_containers_do_not() -> None:
    pod = _pod("p")
    assert report.counted_containers(pod) == ["ollama", "backend"]
    pod["spec"] = {
        **pod["spec"],
        "initContainers": [*pod["spec"]["initContainers"], {"name": "fetch-config"}],
    }
    assert report.counted_containers(pod) == ["ollama", "backend"]


def test_pod_row_counts_ready_containers_and_restarts_of_both() -> None:
    pod = _pod(
        "p",
        ready=False,
        init=[_running("ollama", restarts=2)],
        containers=[
            {
                "name": "backend",
                "ready": False,
                "restartCount": 6,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            }
        ],
    )
    row = report.pod_row(pod, NOW)
    assert (row.containers_ready, row.containers_total, row.restarts) == (1, 2, 8)
    assert row.status == "CrashLoopBackOff"
    assert not row.ready
    assert row.age == "120m"  # as kubectl: minutes below 3 hours


def test_a_container_without_status_is_not_ready() -> None:
    row = report.pod_row(_pod("p", init=[], containers=[], ready=False), NOW)
    assert (row.containers_ready, row.containers_total, row.restarts) == (0, 2, 0)


def _state(key: str, name: str, kind: str, reason: str) -> dict[str, Any]:
    return {key: [{"name": name, "state": {kind: {"reason": reason}}}]}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, "Running"),
        ({"reason": "Evicted", "phase": "Failed"}, "Evicted"),
        (_state("containerStatuses", "backend", "waiting", "ContainerCreating"), "Running"),
        (_state("containerStatuses", "backend", "terminated", "OOMKilled"), "OOMKilled"),
        (
            _state("initContainerStatuses", "ollama", "waiting", "ImagePullBackOff"),
            "ImagePullBackOff",
        ),
    ],
)
def test_pod_status_word(status: dict[str, Any], expected: str) -> None:
    assert report.pod_status(_pod("p", **status)) == expected


def test_a_terminating_pod_says_so() -> None:
    pod = _pod("p")
    pod["metadata"]["deletionTimestamp"] = _stamp(timedelta(seconds=3))
    assert report.pod_status(pod) == "Terminating"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (50 * 3600, "2d2h"),
        (9 * 86400, "9d"),
        (-5, "0s"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert report.human_duration(seconds) == text


def _hpa(current: int, desired: int, limited: str | None = None) -> dict[str, Any]:
    conditions = []
    if limited:
        conditions.append({"type": "ScalingLimited", "status": "True", "reason": limited})
    return {
        "spec": {"minReplicas": 2, "maxReplicas": 6},
        "status": {
            "currentReplicas": current,
            "desiredReplicas": desired,
            "conditions": conditions,
        },
    }


@pytest.mark.parametrize(
    ("hpa", "state"),
    [
        (_hpa(3, 3), "Stable"),
        (_hpa(3, 5), "ScalingUp"),
        (_hpa(5, 3), "ScalingDown"),
        (_hpa(6, 6, "TooManyReplicas"), "AtMaximum"),
        (_hpa(6, 6), "AtMaximum"),
        (_hpa(2, 2, "TooFewReplicas"), "AtMinimum"),
        (_hpa(0, 0), "Stable"),
    ],
)
def test_hpa_state(hpa: dict[str, Any], state: str) -> None:
    assert report.hpa_state(hpa) == state


def test_build_report_sums_over_pods_and_names_missing_children() -> None:
    fetched = report.Fetched(
        name="chat",
        namespace="ns",
        llmservice={
            "metadata": {"name": "chat", "creationTimestamp": _stamp(timedelta(minutes=5))},
            "spec": {"model": {"name": "tinyllama"}, "service": {"port": 8000}},
        },
        pods=[
            _pod("b", init=[_running("ollama", restarts=1)]),
            _pod("a", ready=False, containers=[_running("backend", ready=False, restarts=3)]),
        ],
    )
    r = report.build_report(fetched, NOW)
    assert [p.name for p in r.pods] == ["a", "b"]
    assert (r.pods_ready, r.pods_total) == (1, 2)
    assert (r.containers_ready, r.containers_total, r.restarts) == (3, 4, 4)
    assert r.missing == (
        "Deployment ns/chat",
        "Service ns/chat",
        "HorizontalPodAutoscaler ns/chat",
    )
    assert r.endpoint == "http://chat.ns.svc:8000"  # from the spec: no status, no Service
    assert r.age == "5m"
    assert r.phase == "-"
    text = report.render_text(r)
    assert "  pods        1/2 ready (desired -, updated -, available -)" in text
    assert "missing: HorizontalPodAutoscaler ns/chat" in text


def test_summarize_probe() -> None:
    p = report.summarize_probe([0.030, 0.010, 0.020, 0.040], ["HTTP 503"])
    assert (p.samples, p.ok) == (5, 4)
    assert p.p50_seconds == pytest.approx(0.025)
    assert p.max_seconds == 0.040
    none = report.summarize_probe([], ["HTTP 404", "HTTP 404"])
    assert (none.ok, none.p50_seconds, none.max_seconds) == (0, None, None)
