"""A model pull that fails for good reaches the LLMService status: the backend's termination
message (``llmservice_backend.termination``) is one ``status.py`` reports as ModelPullFailed.

The path is backend -> termination-message file -> kubelet -> the container's
``lastState.terminated.message`` -> the operator. The two ends live in two packages (the
backend image does not ship the operator), so the marker is duplicated; this test is where
the copies are held together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import support
from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMServiceSpec
from llmservice_operator.builders import build_deployment
from llmservice_operator.core.status import (
    MODEL_PULL_FAILED,
    MODEL_PULL_FAILED_MARKER,
    Observed,
    compute_status,
    condition,
    project_pod,
)
from llmservice_operator.tools.render.validation import validate_llmservice

termination = pytest.importorskip("llmservice_backend.termination")
backend_settings = pytest.importorskip("llmservice_backend.settings")

REASON = "pull model manifest: file does not exist"
T0 = "2026-01-01T00:00:00Z"


def crash_looping_pod(message: str) -> dict[str, Any]:
    """A pod as the API server reports it after the backend exited with ``message``."""
    return {
        "metadata": {"name": "chat-6d5f-abcde", "namespace": "default"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "initContainerStatuses": [
                {
                    "name": naming.OLLAMA_CONTAINER,
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": T0}},
                }
            ],
            "containerStatuses": [
                {
                    "name": naming.BACKEND_CONTAINER,
                    "ready": False,
                    "restartCount": 3,
                    "state": {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": "back-off 40s restarting failed container=backend",
                        }
                    },
                    "lastState": {
                        "terminated": {
                            "exitCode": termination.EXIT_MODEL_PULL_FAILED,
                            "reason": "Error",
                            "message": message,
                            "startedAt": T0,
                            "finishedAt": T0,
                        }
                    },
                }
            ],
        },
    }


def test_the_backend_uses_the_operators_marker() -> None:
    assert termination.MODEL_PULL_FAILED_MARKER == MODEL_PULL_FAILED_MARKER
    message = termination.model_pull_failed_message(REASON)
    assert message.startswith(MODEL_PULL_FAILED_MARKER)
    assert message == f"{MODEL_PULL_FAILED_MARKER}: {REASON}"


def test_status_reports_the_backends_message_as_model_pull_failed() -> None:
    message = termination.model_pull_failed_message(REASON)
    pod = project_pod(crash_looping_pod(message))
    status = compute_status(
        Observed(
            name="chat",
            namespace="default",
            generation=1,
            spec=LLMServiceSpec.model_validate({"model": {"name": "no-such-model"}}),
            deployment={
                "metadata": {"name": "chat", "generation": 1},
                "spec": {"replicas": 2},
                "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 0},
            },
            pods=[pod],
            now=T0,
        )
    )
    degraded = condition(status, "Degraded")
    assert degraded is not None
    assert degraded["status"] == "True"
    assert degraded["reason"] == MODEL_PULL_FAILED
    assert REASON in degraded["message"]
    assert status["phase"] == "Degraded"


def test_a_long_reason_is_cut_to_what_the_kubelet_keeps_and_still_counts() -> None:
    message = termination.model_pull_failed_message("x" * 10_000)
    assert len(message.encode()) == termination.MAX_MESSAGE_BYTES
    assert message.startswith(MODEL_PULL_FAILED_MARKER)


@pytest.mark.parametrize("path", support.EXAMPLES, ids=lambda p: p.stem)
def test_the_kubelet_reads_the_file_the_backend_writes(path: Path) -> None:
    """The backend container keeps the kubelet's defaults (path /dev/termination-log, policy
    File), or sets them to where the backend writes."""
    service = validate_llmservice(support.load_example(path))
    pod = build_deployment(service)["spec"]["template"]["spec"]
    (container,) = (c for c in pod["containers"] if c["name"] == naming.BACKEND_CONTAINER)
    env = {v["name"]: v.get("value") for v in container["env"]}
    written_to = env.get("TERMINATION_MESSAGE_PATH") or (
        backend_settings.Settings().termination_message_path
    )
    assert container.get("terminationMessagePath", "/dev/termination-log") == written_to
    assert container.get("terminationMessagePolicy", "File") in ("File", "FallbackToLogsOnError")
