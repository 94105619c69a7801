"""status.model: each pod's progress with the model, from the kubelet's readiness and the
backend's /readyz answer."""

from __future__ import annotations

from typing import Any

import pytest
from llmservice_operator.api.models import LLMServiceSpec, LLMServiceStatus
from llmservice_operator.core import modelprogress
from llmservice_operator.core.status import Observed, compute_status, project_pod


def pod(name: str, phase: str = "Running", ready: bool = False, ip: str = "10.0.0.5") -> dict:
    status: dict[str, Any] = {
        "phase": phase,
        "containerStatuses": [{"name": "backend", "ready": ready}],
    }
    if ip:
        status["podIP"] = ip
    return {"metadata": {"name": name}, "status": status}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"phase": "pulling", "progress": {"percent": 47.3}}, {"state": "Pulling", "percent": 40}),
        ({"phase": "pulling", "progress": {"percent": 100}}, {"state": "Pulling", "percent": 100}),
        ({"phase": "pulling", "progress": None}, {"state": "Pulling"}),
        ({"phase": "warming"}, {"state": "Loading"}),
        ({"phase": "waiting_for_ollama"}, {"state": "Starting"}),
        ({"phase": "failed", "error": "pull failed"}, {"state": "Failed"}),
        ({"phase": "something new"}, {"state": "Unknown"}),
        ("not json object", {"state": "Unknown"}),
        ({"phase": "pulling", "progress": {"percent": True}}, {"state": "Pulling"}),
    ],
)
def test_readyz_answers_become_states(body: Any, expected: dict[str, Any]) -> None:
    assert modelprogress.from_readyz(body) == expected


def test_each_pod_has_a_state_and_the_summary_counts_them() -> None:
    pods = [
        pod("chat-a", ready=True),
        pod("chat-b"),
        pod("chat-c"),
        pod("chat-d", phase="Pending", ip=""),
        pod("chat-e"),
    ]
    answers = {
        "chat-b": {"state": "Pulling", "percent": 40},
        "chat-c": {"state": "Pulling", "percent": 70},
        # chat-e not asked yet: Starting
    }
    model = modelprogress.model_status(pods, answers)
    assert model is not None
    assert model["pods"] == [
        {"name": "chat-a", "state": "Ready"},
        {"name": "chat-b", "state": "Pulling", "percent": 40},
        {"name": "chat-c", "state": "Pulling", "percent": 70},
        {"name": "chat-d", "state": "Waiting"},
        {"name": "chat-e", "state": "Starting"},
    ]
    # The slowest download's percentage; what needs attention first.
    assert model["summary"] == "1 Waiting, 1 Starting, 2 Pulling 40%, 1 Ready"


def test_only_running_unready_pods_with_an_address_are_asked() -> None:
    assert modelprogress.starting(pod("a"))
    assert not modelprogress.starting(pod("a", ready=True))
    assert not modelprogress.starting(pod("a", phase="Pending"))
    assert not modelprogress.starting(pod("a", ip=""))
    going = pod("a")
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not modelprogress.starting(going)


def test_the_status_carries_the_model_and_validates() -> None:
    observed = Observed(
        name="chat",
        namespace="ns",
        generation=1,
        spec=LLMServiceSpec.model_validate({}),
        pods=[project_pod(pod("chat-a", ready=True)), project_pod(pod("chat-b"))],
        model_answers={"chat-b": {"state": "Pulling", "percent": 30}},
    )
    status = compute_status(observed)
    assert status["model"]["summary"] == "1 Pulling 30%, 1 Ready"
    LLMServiceStatus.model_validate(status)
    # A backend that says Ready before the kubelet does is still loading for the status.
    observed = Observed(**{**observed.__dict__, "model_answers": {"chat-b": {"state": "Ready"}}})
    assert compute_status(observed)["model"]["pods"][1] == {"name": "chat-b", "state": "Loading"}
