"""Status the operator reports from what kube-controller-manager and the kubelets say:
Degraded reasons, recovery, HPA scaling; and a spec only the operator can reject."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llmservice_testkit.emulator.thread import ServerThread
from llmservice_testkit.pytest_plugin import api_client_for
from operator_helpers import (
    Cluster,
    Operator,
    ReadyzAnswers,
    install_crd,
    operator_writes,
    readyz_server,
    request_count,
    running_operator,
    started,
    wait_for,
)

pytestmark = pytest.mark.slow


WAITING = "2026-01-01T00:00:00Z"
CASES: dict[str, dict[str, Any]] = {
    "CrashLoopBackOff": {
        "backend_state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
    },
    "ImagePullBackOff": {
        "backend_state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}
    },
    "ErrImagePull": {"backend_state": {"waiting": {"reason": "ErrImagePull"}}},
    "OOMKilled": {
        "backend_state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "backend_last_state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
    },
    "ModelPullFailed": {
        "backend_state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "backend_last_state": {
            "terminated": {
                "reason": "Error",
                "exitCode": 1,
                "message": "model pull failed: pull model manifest: file does not exist",
            }
        },
    },
    "Unschedulable": {
        "scheduled": {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory.",
        }
    },
}
EXPECTED = {"ErrImagePull": "ImagePullBackOff"}


@pytest.mark.parametrize("case", list(CASES))
def test_each_degraded_reason_and_recovery(cluster: Cluster, operator: Operator, case: str) -> None:
    started(cluster)
    cluster.make_pod("chat", "chat-good")
    cluster.make_pod("chat", "chat-bad", ready=False, **CASES[case])
    cluster.set_hpa_status("chat", 2, 2)
    cluster.mark_deployment("chat", ready=1, replicas=2)
    reason = EXPECTED.get(case, case)
    degraded = cluster.wait_condition("chat", "Degraded", "True", reason)
    assert "chat-bad" in degraded["message"]
    # Degraded is written as soon as the bad pod is seen, maybe before the Deployment's
    # ready count; that comes with the next status write.
    wait_for(lambda: cluster.status("chat")["ready"] == "1/2", "ready 1/2")
    assert cluster.status("chat")["phase"] == "Degraded"
    ready = cluster.condition("chat", "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason)
    wait_for(lambda: cluster.events("Degraded"), "a Degraded event")
    (event,) = cluster.events("Degraded")
    assert event["type"] == "Warning"
    assert reason in event["message"]

    # The kubelet replaces the pod with a healthy one.
    cluster.core.delete_namespaced_pod("chat-bad", cluster.ns)
    cluster.make_pod("chat", "chat-fixed")
    cluster.mark_deployment("chat", ready=2)
    cluster.wait_condition("chat", "Degraded", "False")
    cluster.wait_condition("chat", "Ready", "True")
    wait_for(lambda: cluster.events("Recovered"), "a Recovered event")


def test_hpa_scaling_shows_in_status(cluster: Cluster, operator: Operator) -> None:
    started(cluster)
    cluster.run_ready("chat", pods=2)
    cluster.wait_condition("chat", "Ready", "True")

    cluster.set_hpa_status("chat", current=2, desired=4, cpu=140)
    wait_for(
        lambda: cluster.status("chat").get("autoscaling", {}).get("state") == "ScalingUp",
        "ScalingUp",
    )
    status = cluster.status("chat")
    assert status["desiredReplicas"] == 4
    assert status["ready"] == "2/4"
    assert status["autoscaling"]["currentCPUUtilizationPercentage"] == 140
    wait_for(lambda: cluster.events("Scaled"), "a Scaled event")
    assert "2 -> 4" in cluster.events("Scaled")[0]["message"]

    cluster.set_hpa_status("chat", current=6, desired=6, cpu=120, limited="TooManyReplicas")
    limited = cluster.wait_condition("chat", "ScalingLimited", "True", "MaxReplicasReached")
    assert "6" in limited["message"]
    assert cluster.status("chat")["autoscaling"]["state"] == "AtMaximum"


@pytest.fixture
def lax_server(fresh_apiserver: ServerThread) -> Iterator[tuple[ServerThread, Any]]:
    """A server whose CRD lacks the CEL rules, so a spec only the operator rejects gets in."""
    api_client = api_client_for(fresh_apiserver)
    install_crd(api_client, strip_rules=True)
    yield fresh_apiserver, api_client
    api_client.close()


def test_invalid_spec_is_reported_once_and_not_retried(
    lax_server: tuple[ServerThread, Any], tmp_path: Path
) -> None:
    server, api_client = lax_server
    cluster = Cluster(api_client, "default")
    assert server._kubeconfig is not None
    with running_operator(server._kubeconfig, ["default"], tmp_path / "operator.log"):
        # The operator trusts the API server's admission (the CRD's CEL rules) and reads
        # specs through the models: a bad label key, which only a CEL rule of the CRD
        # rejects, gets past this server and is one the models refuse.
        cluster.create("bad", {"pod": {"labels": {"not a key!": "x"}}})
        cluster.create("good")
        ready = cluster.wait_condition("bad", "Ready", "False", "InvalidSpec")
        assert "spec.pod.labels" in ready["message"]
        assert "not a key!" in ready["message"]
        assert cluster.status("bad")["phase"] == "Failed"
        wait_for(lambda: cluster.events("InvalidSpec"), "the InvalidSpec event")
        # The other LLMService reconciles regardless.
        wait_for(lambda: all(cluster.children("good").values()), "the good one's children")
        assert not any(cluster.children("bad").values())
        cluster.wait_condition("good", "Ready", "False", "RolloutInProgress")

        # No retry loop: nothing more is written about it while nothing changes.
        mark = request_count(server)
        time.sleep(1.5)
        assert operator_writes(server, since=mark) == []
        (event,) = cluster.events("InvalidSpec")
        assert event["type"] == "Warning"
        assert event["involvedObject"]["name"] == "bad"

        # Fixed: it is reconciled like any other.
        cluster.patch_spec("bad", {"pod": {"labels": {"not a key!": None, "team": "x"}}})
        wait_for(lambda: all(cluster.children("bad").values()), "the fixed one's children")
        cluster.wait_condition("bad", "Ready", "False", "RolloutInProgress")


@pytest.fixture
def starting_backend() -> Iterator[tuple[int, type[ReadyzAnswers]]]:
    with readyz_server() as served:
        yield served


def test_model_download_progress_is_read_from_starting_pods(
    cluster: Cluster,
    kubeconfig_path: Path,
    tmp_path: Path,
    starting_backend: tuple[int, type[ReadyzAnswers]],
) -> None:
    """The operator asks a running, unready pod's backend (``/readyz`` on the pod's address
    and the backend port) how far the model got, and shows it in status.model; ready
    pods are not asked."""
    port, backend = starting_backend
    settings = {"LLMSERVICE_MODEL_PROGRESS_INTERVAL": "0.2"}
    with running_operator(kubeconfig_path, [cluster.ns], tmp_path / "op.log", settings):
        cluster.create("chat", {"backend": {"port": port}})
        wait_for(lambda: all(cluster.children("chat").values()), "the three children")
        cluster.make_pod("chat", "chat-a", pod_ip="127.0.0.2")
        backend.answer = {"phase": "pulling", "progress": {"percent": 47.5}}
        cluster.make_pod("chat", "chat-b", ready=False, pod_ip="127.0.0.1")
        cluster.mark_deployment("chat", ready=1, replicas=2)

        def summary() -> str | None:
            return (cluster.status("chat").get("model") or {}).get("summary")

        wait_for(lambda: summary() == "1 Pulling 40%, 1 Ready", "1 Pulling 40%, 1 Ready")
        pods = cluster.status("chat")["model"]["pods"]
        assert pods == [
            {"name": "chat-a", "state": "Ready"},
            {"name": "chat-b", "state": "Pulling", "percent": 40},
        ]
        backend.answer = {"phase": "warming"}
        wait_for(lambda: summary() == "1 Loading, 1 Ready", "1 Loading, 1 Ready")
        assert set(backend.asked) == {"/readyz"}
