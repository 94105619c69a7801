"""What the status says in the situations users meet: a pod that recovers, a scale-up that
waits for a node, a rollout that keeps old pods serving. Each situation is a world
observed at a clock (built with the helpers of status_worlds.py); the README's table of
phases and conditions is this file's summary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from llmservice_operator.api.models import LLMServiceSpec
from llmservice_operator.core.status import (
    CAPACITY_GRACE,
    RESTART_WINDOW,
    compute_status,
    condition,
    format_time,
    next_change,
    pod_problems,
    transitions,
)
from status_worlds import (
    START,
    at,
    container,
    deployment,
    hpa,
    oom,
    pending_pod,
    pull_failed,
    running_pod,
    summary,
    world,
)

# --------------------------------------------------------------------------------------
# problems are read from the current state: a recovered pod stops counting


@pytest.mark.parametrize(
    ("reason", "failing", "recovered"),
    [
        (
            "OOMKilled",
            container("ollama", ready=False, waiting="CrashLoopBackOff", last=oom(0), restarts=1),
            container("ollama", ready=True, last=oom(0), restarts=1),
        ),
        (
            "ModelPullFailed",
            container(ready=False, waiting="CrashLoopBackOff", last=pull_failed(0), restarts=1),
            container(ready=True, last=pull_failed(0), restarts=1),
        ),
        (
            "CrashLoopBackOff",
            container(
                ready=False,
                waiting="CrashLoopBackOff",
                last={"reason": "Error", "exitCode": 1, "finishedAt": at(0)},
                restarts=4,
            ),
            container(
                ready=True, last={"reason": "Error", "exitCode": 1, "finishedAt": at(0)}, restarts=4
            ),
        ),
        (
            "ImagePullBackOff",
            container(ready=False, waiting="ImagePullBackOff"),
            container(ready=True),
        ),
    ],
)
def test_a_problem_ends_when_the_pod_is_ready_again(
    reason: str, failing: dict[str, Any], recovered: dict[str, Any]
) -> None:
    healthy = running_pod("chat-a", container(), container("ollama"))
    before = compute_status(world(30, [healthy, running_pod("chat-b", failing)]))
    assert summary(before)[0] == "Degraded"
    assert summary(before)[3] == f"True/{reason}"
    after = compute_status(
        world(
            60,
            [healthy, running_pod("chat-b", recovered)],
            previous_conditions=before["conditions"],
        )
    )
    assert summary(after) == (
        "Ready",
        "True/AllReplicasReady",
        "False/RolloutComplete",
        "False/NoProblems",
    )
    # The transition is an event the user sees.
    assert ("Normal", "Recovered", f"no longer {reason}") in transitions(before, after)


def test_a_restarting_container_counts_within_the_window_and_not_after() -> None:
    """Restarted after an OOM kill and starting again (running, not ready yet): still the
    OOM kill for RESTART_WINDOW seconds, then just a pod that is not ready."""
    restarting = running_pod("chat-b", container("ollama", ready=False, last=oom(0), restarts=1))
    serving = running_pod("chat-a", container("ollama"))
    dep = deployment(spec_replicas=2, replicas=2, ready=1)
    inside = world(RESTART_WINDOW - 10, [serving, restarting], deployment=dep)
    assert summary(compute_status(inside))[3] == "True/OOMKilled"
    # The operator is told to look again when the window closes.
    assert next_change(inside) == pytest.approx(10)
    outside = world(RESTART_WINDOW + 1, [serving, restarting], deployment=dep)
    assert summary(compute_status(outside))[3] == "False/NoProblems"
    assert next_change(outside) is None


def test_without_a_clock_a_last_termination_counts_until_ready() -> None:
    restarting = running_pod("chat-b", container("ollama", ready=False, last=oom(0)))
    assert [p.reason for p in pod_problems(restarting)] == ["OOMKilled"]
    ready = running_pod("chat-b", container("ollama", ready=True, last=oom(0)))
    assert pod_problems(ready) == []


# --------------------------------------------------------------------------------------
# capacity waits are progress first


def test_a_scale_up_waiting_for_a_node_is_progress_while_two_pods_serve() -> None:
    serving = [running_pod("chat-a", container()), running_pod("chat-b", container())]
    waiting = [pending_pod("chat-c", since=0), pending_pod("chat-d", since=5)]
    dep = deployment(spec_replicas=4, replicas=4, ready=2)
    observed = world(60, serving + waiting, deployment=dep, hpa=hpa(2, 4))
    status = compute_status(observed)
    assert summary(status) == (
        "Progressing",
        "True/MinimumReplicasReady",
        "True/WaitingForCapacity",
        "False/NoProblems",
    )
    progressing = condition(status, "Progressing") or {}
    assert "Insufficient cpu" in progressing["message"]
    assert format_time(START + timedelta(seconds=CAPACITY_GRACE)) in progressing["message"]
    assert status["ready"] == "2/4"
    # The oldest waiting pod decides when the grace runs out.
    assert next_change(observed) == pytest.approx(CAPACITY_GRACE - 60)


def test_capacity_waits_become_degraded_after_the_grace() -> None:
    serving = [running_pod("chat-a", container()), running_pod("chat-b", container())]
    dep = deployment(spec_replicas=3, replicas=3, ready=2)
    late = world(
        CAPACITY_GRACE + 1,
        [*serving, pending_pod("chat-c", since=0)],
        deployment=dep,
        hpa=hpa(2, 3),
    )
    status = compute_status(late)
    # Still serving at its floor of 2, but a pod has waited too long: Degraded.
    assert summary(status) == (
        "Degraded",
        "True/MinimumReplicasReady",
        "False/Unschedulable",
        "True/Unschedulable",
    )


def test_capacity_waits_are_degraded_at_once_when_nothing_serves() -> None:
    dep = deployment(spec_replicas=2, replicas=2, ready=0)
    pods = [pending_pod("chat-a", since=0), pending_pod("chat-b", since=0)]
    status = compute_status(world(5, pods, deployment=dep))
    assert summary(status) == (
        "Degraded",
        "False/Unschedulable",
        "False/Unschedulable",
        "True/Unschedulable",
    )
    assert "(2 pods affected)" in (condition(status, "Degraded") or {})["message"]


def test_the_grace_is_a_setting() -> None:
    serving = [running_pod("chat-a", container())]
    dep = deployment(spec_replicas=2, replicas=2, ready=1)
    observed = world(
        61, [*serving, pending_pod("chat-b", since=0)], deployment=dep, capacity_grace=60.0
    )
    assert summary(compute_status(observed))[3] == "True/Unschedulable"


# --------------------------------------------------------------------------------------
# Ready means serving at the floor


def test_ready_follows_the_floor_not_the_current_wish() -> None:
    """HPA wants 4 for load; 2 (minReplicas) ready: serving. 1 ready: below the floor."""
    dep = deployment(spec_replicas=4, replicas=4, ready=2)
    assert summary(compute_status(world(0, [], deployment=dep, hpa=hpa(2, 4))))[1] == (
        "True/MinimumReplicasReady"
    )
    below = deployment(spec_replicas=4, replicas=4, ready=1)
    assert summary(compute_status(world(0, [], deployment=below, hpa=hpa(2, 4))))[1] == (
        "False/PodsNotReady"
    )


def test_without_autoscaling_the_floor_is_the_replica_count() -> None:
    fixed = LLMServiceSpec.model_validate({"replicas": 3, "autoscaling": {"enabled": False}})
    dep = deployment(spec_replicas=3, replicas=3, ready=2)
    status = compute_status(world(0, [], spec=fixed, deployment=dep, hpa=None))
    assert summary(status)[:2] == ("Progressing", "False/PodsNotReady")


def test_every_condition_names_the_generation_it_describes() -> None:
    """``kubectl wait --for=condition=Ready`` ignores a condition of an older generation,
    so after a spec change it waits for the status of the new one."""
    status = compute_status(world(0, [], generation=7))
    assert {c["observedGeneration"] for c in status["conditions"]} == {7}


# --------------------------------------------------------------------------------------
# what kstatus (Flux, cli-utils) reads: Reconciling and Stalled


def gitops(status: dict[str, Any]) -> tuple[str, str]:
    return (
        (condition(status, "Reconciling") or {})["status"],
        (condition(status, "Stalled") or {})["status"],
    )


def test_reconciling_while_progressing_and_stalled_only_when_nothing_serves() -> None:
    serving = [running_pod("chat-a", container()), running_pod("chat-b", container())]
    settled = compute_status(world(0, serving))
    assert gitops(settled) == ("False", "False")
    scaling = compute_status(
        world(
            0, serving, deployment=deployment(spec_replicas=4, replicas=4, ready=2), hpa=hpa(2, 4)
        )
    )
    assert gitops(scaling) == ("True", "False")
    crashing = container(ready=False, waiting="CrashLoopBackOff", restarts=4)
    one_fails = compute_status(
        world(
            0,
            [serving[0], serving[1], running_pod("chat-c", crashing)],
            deployment=deployment(spec_replicas=3, replicas=3, ready=2),
            hpa=hpa(3, 3),
        )
    )
    assert summary(one_fails)[0] == "Degraded"
    assert gitops(one_fails) == ("False", "False")  # serving: Current for kstatus
    all_fail = compute_status(
        world(
            0,
            [running_pod("chat-a", crashing), running_pod("chat-b", crashing)],
            deployment=deployment(spec_replicas=2, replicas=2, ready=0),
        )
    )
    assert gitops(all_fail) == ("False", "True")
    assert (condition(all_fail, "Stalled") or {})["reason"] == "CrashLoopBackOff"
    failed = compute_status(world(0, [], invalid_spec="spec.model.name: bad"))
    assert gitops(failed) == ("False", "True")
    assert (condition(failed, "Stalled") or {})["reason"] == "InvalidSpec"
