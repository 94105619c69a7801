"""The status as a pure function of the observed Deployment, HPA and Pods."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMServiceSpec, LLMServiceStatus
from llmservice_operator.core.status import (
    Observed,
    compute_status,
    condition,
    project_deployment,
    project_hpa,
    project_pod,
    settled,
)

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"


def spec(**over: Any) -> LLMServiceSpec:
    return LLMServiceSpec.model_validate(over)


def deployment(
    ready: int = 0,
    replicas: int | None = None,
    updated: int | None = None,
    available: int | None = None,
    spec_replicas: int | None = 2,
    generation: int = 1,
    observed: int | None = 1,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    replicas = ready if replicas is None else replicas
    status: dict[str, Any] = {
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready if available is None else available,
        "updatedReplicas": replicas if updated is None else updated,
    }
    if observed is not None:
        status["observedGeneration"] = observed
    if conditions:
        status["conditions"] = conditions
    body: dict[str, Any] = {
        "metadata": {"name": "chat", "generation": generation},
        "spec": {} if spec_replicas is None else {"replicas": spec_replicas},
        "status": status,
    }
    return body


def hpa(
    current: int = 2,
    desired: int = 2,
    cpu: int | None = None,
    memory: int | None = None,
    limited: str | None = None,
    last_scale: str | None = None,
) -> dict[str, Any]:
    metrics = []
    for name, value in (("cpu", cpu), ("memory", memory)):
        if value is not None:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {"name": name, "current": {"averageUtilization": value}},
                }
            )
    status: dict[str, Any] = {"currentReplicas": current, "desiredReplicas": desired}
    if metrics:
        status["currentMetrics"] = metrics
    if last_scale:
        status["lastScaleTime"] = last_scale
    if limited:
        status["conditions"] = [{"type": "ScalingLimited", "status": "True", "reason": limited}]
    return {
        "metadata": {"name": "chat"},
        "spec": {"minReplicas": 2, "maxReplicas": 6},
        "status": status,
    }


def pod(
    name: str = "chat-1",
    *,
    waiting: str | None = None,
    waiting_message: str = "",
    last_terminated: dict[str, Any] | None = None,
    container: str = "backend",
    init: bool = False,
    unschedulable: str | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": container, "ready": waiting is None, "restartCount": 3}
    if waiting:
        cs["state"] = {"waiting": {"reason": waiting, "message": waiting_message}}
        cs["image"] = "example/backend:1"
    else:
        cs["state"] = {"running": {"startedAt": T0}}
    if last_terminated:
        cs["lastState"] = {"terminated": last_terminated}
    status: dict[str, Any] = {"phase": "Running", "conditions": []}
    status["initContainerStatuses" if init else "containerStatuses"] = [cs]
    if unschedulable:
        status["phase"] = "Pending"
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": unschedulable,
            }
        ]
        status.pop("containerStatuses", None)
        status.pop("initContainerStatuses", None)
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = T0
    return {"metadata": meta, "status": status}


def observe(**over: Any) -> Observed:
    values: dict[str, Any] = {
        "name": "chat",
        "namespace": "ns",
        "generation": 1,
        "spec": spec(),
        "deployment": None,
        "hpa": None,
        "pods": (),
        "previous_conditions": (),
        "now": T0,
    }
    values.update(over)
    return Observed(**values)


def cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    found = condition(status, type_)
    assert found is not None, f"no {type_} condition in {status['conditions']}"
    return dict(found)


# --------------------------------------------------------------------------------------
# phases and counts


def test_no_deployment_yet_is_pending_with_the_desired_count() -> None:
    status = compute_status(observe())
    assert status["phase"] == "Pending"
    assert status["ready"] == "0/2"
    assert status["desiredReplicas"] == 2
    assert cond(status, "Ready")["status"] == "False"
    assert cond(status, "Ready")["reason"] == "WaitingForDeployment"
    assert cond(status, "Progressing")["status"] == "True"
    assert cond(status, "Degraded")["status"] == "False"


def test_all_pods_ready_is_ready_with_counts_selector_and_endpoint() -> None:
    status = compute_status(observe(deployment=deployment(ready=2), hpa=hpa()))
    assert status["phase"] == "Ready"
    assert status["ready"] == "2/2"
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (2, 2, 2)
    assert status["updatedReplicas"] == 2
    assert status["selector"] == naming.selector_string("chat")
    assert status["endpoint"] == "http://chat.ns.svc:80"
    ready = cond(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "AllReplicasReady")
    assert cond(status, "Available")["status"] == "True"
    assert cond(status, "Progressing")["status"] == "False"
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])
    assert status["observedGeneration"] == 1


def test_status_validates_against_the_status_model() -> None:
    status = compute_status(observe(deployment=deployment(ready=2), hpa=hpa(cpu=40, memory=50)))
    model = LLMServiceStatus.model_validate(status)
    assert model.to_api() == status


def test_partially_ready_is_progressing() -> None:
    status = compute_status(observe(deployment=deployment(ready=1, replicas=2)))
    assert status["phase"] == "Progressing"
    assert status["ready"] == "1/2"
    assert cond(status, "Ready")["reason"] == "PodsNotReady"
    assert cond(status, "Available")["status"] == "True"


def test_stale_deployment_generation_is_a_rollout_in_progress() -> None:
    dep = deployment(ready=2, generation=3, observed=2)
    status = compute_status(observe(deployment=dep))
    assert status["phase"] == "Progressing"
    assert cond(status, "Progressing")["reason"] == "RolloutInProgress"
    # Two pods serve: the rollout is no outage.
    assert cond(status, "Ready")["status"] == "True"


def test_a_surge_with_old_pods_still_ready_is_a_rollout_in_progress() -> None:
    """What the real Deployment controller reports mid-rollout (seen on the real control
    plane): 2 new pods of which 1 ready, 1 old pod ready, so readyReplicas equals the
    desired 2 and updatedReplicas too, yet an old pod still serves."""
    status = compute_status(observe(deployment=deployment(ready=2, replicas=3, updated=2)))
    assert status["phase"] == "Progressing"
    progressing = cond(status, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "RolloutInProgress")
    assert "1 old still running" in progressing["message"]
    # Ready means serving: two ready pods are the service's floor.
    ready = cond(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "MinimumReplicasReady")


def test_fixed_replicas_come_from_the_spec() -> None:
    s = spec(replicas=3, autoscaling={"enabled": False})
    status = compute_status(observe(spec=s, deployment=deployment(ready=3, spec_replicas=3)))
    assert status["ready"] == "3/3"
    assert status["phase"] == "Ready"
    assert status["autoscaling"] == {"state": "Disabled"}
    limited = cond(status, "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("False", "AutoscalingDisabled")


def test_scaled_to_zero_is_ready_but_not_available() -> None:
    s = spec(replicas=0, autoscaling={"enabled": False})
    status = compute_status(observe(spec=s, deployment=deployment(ready=0, spec_replicas=0)))
    assert status["ready"] == "0/0"
    assert status["phase"] == "Ready"
    assert cond(status, "Ready")["reason"] == "ScaledToZero"
    assert cond(status, "Available")["status"] == "False"


def test_desired_before_the_hpa_acts_is_clamped_to_min() -> None:
    # A Deployment applied without replicas gets the API default 1; min is 2.
    status = compute_status(observe(deployment=deployment(ready=1, spec_replicas=1)))
    assert status["desiredReplicas"] == 2
    assert status["ready"] == "1/2"


def test_hpa_desired_count_wins_when_known() -> None:
    status = compute_status(observe(deployment=deployment(ready=2), hpa=hpa(current=2, desired=4)))
    assert status["desiredReplicas"] == 4
    assert status["ready"] == "2/4"
    assert status["autoscaling"]["state"] == "ScalingUp"
    assert status["phase"] == "Progressing"


# --------------------------------------------------------------------------------------
# autoscaling


def test_autoscaling_status_reports_the_hpa() -> None:
    h = hpa(current=3, desired=3, cpu=71, memory=44, last_scale=T1)
    status = compute_status(observe(deployment=deployment(ready=3, spec_replicas=3), hpa=h))
    assert status["autoscaling"] == {
        "minReplicas": 2,
        "maxReplicas": 6,
        "currentReplicas": 3,
        "desiredReplicas": 3,
        "currentCPUUtilizationPercentage": 71,
        "currentMemoryUtilizationPercentage": 44,
        "lastScaleTime": T1,
        "metrics": [
            {"type": "CPU", "currentUtilizationPercentage": 71, "targetUtilizationPercentage": 70},
            {
                "type": "Memory",
                "currentUtilizationPercentage": 44,
                "targetUtilizationPercentage": 80,
            },
        ],
        "state": "Stable",
    }


@pytest.mark.parametrize(
    ("current", "desired", "limited", "state"),
    [
        (2, 4, None, "ScalingUp"),
        (5, 3, None, "ScalingDown"),
        (6, 6, "TooManyReplicas", "AtMaximum"),
        (6, 6, None, "AtMaximum"),
        (2, 2, "TooFewReplicas", "AtMinimum"),
        (3, 3, None, "Stable"),
        (0, 0, None, "Stable"),
    ],
)
def test_scaling_state(current: int, desired: int, limited: str | None, state: str) -> None:
    h = hpa(current=current, desired=desired, limited=limited)
    status = compute_status(observe(deployment=deployment(ready=current), hpa=h))
    assert status["autoscaling"]["state"] == state


def test_scaling_limited_at_max() -> None:
    h = hpa(current=6, desired=6, limited="TooManyReplicas", cpu=95)
    status = compute_status(observe(deployment=deployment(ready=6, spec_replicas=6), hpa=h))
    limited = cond(status, "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "MaxReplicasReached")
    assert "6" in limited["message"]


def test_scaling_not_limited_at_idle_minimum() -> None:
    status = compute_status(
        observe(deployment=deployment(ready=2), hpa=hpa(limited="TooFewReplicas"))
    )
    assert cond(status, "ScalingLimited")["status"] == "False"


def test_an_autoscaler_without_metrics_keeps_the_count_and_says_why() -> None:
    """What kube-controller-manager's HPA controller reports in a cluster without a metrics
    server (seen on the real control plane): empty currentMetrics, ScalingActive False."""
    h = hpa()
    h["status"]["currentMetrics"] = [{"type": ""}, {"type": ""}]
    h["status"]["conditions"] = [
        {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
        {
            "type": "ScalingActive",
            "status": "False",
            "reason": "FailedGetResourceMetric",
            "message": "the HPA was unable to compute the replica count: failed to get cpu "
            "utilization: unable to get metrics for resource cpu",
        },
    ]
    status = compute_status(observe(deployment=deployment(ready=2), hpa=h))
    assert status["phase"] == "Ready"
    assert status["autoscaling"]["state"] == "MetricsUnavailable"
    assert "currentCPUUtilizationPercentage" not in status["autoscaling"]
    limited = cond(status, "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "MetricsUnavailable")
    assert "unable to get metrics for resource cpu" in limited["message"]


# --------------------------------------------------------------------------------------
# degraded reasons


@pytest.mark.parametrize(
    ("the_pod", "reason"),
    [
        (pod(waiting="CrashLoopBackOff"), "CrashLoopBackOff"),
        (pod(waiting="ImagePullBackOff"), "ImagePullBackOff"),
        (pod(waiting="ErrImagePull"), "ImagePullBackOff"),
        (
            pod(
                waiting="CrashLoopBackOff", last_terminated={"reason": "OOMKilled", "exitCode": 137}
            ),
            "OOMKilled",
        ),
        (
            pod(
                container="ollama",
                init=True,
                waiting="CrashLoopBackOff",
                last_terminated={"reason": "OOMKilled", "exitCode": 137},
            ),
            "OOMKilled",
        ),
        (
            pod(
                waiting="CrashLoopBackOff",
                last_terminated={
                    "reason": "Error",
                    "exitCode": 1,
                    "message": "model pull failed: pull model manifest: file does not exist",
                },
            ),
            "ModelPullFailed",
        ),
        (pod(unschedulable="0/3 nodes are available: 3 Insufficient memory."), "Unschedulable"),
    ],
)
def test_each_degraded_reason_is_named(the_pod: dict[str, Any], reason: str) -> None:
    healthy = pod("chat-0")
    status = compute_status(
        observe(deployment=deployment(ready=1, replicas=2), pods=[healthy, the_pod])
    )
    degraded = cond(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", reason)
    assert "chat-1" in degraded["message"]
    assert status["phase"] == "Degraded"
    ready = cond(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason)


def test_unschedulable_message_keeps_the_scheduler_text() -> None:
    status = compute_status(
        observe(deployment=deployment(), pods=[pod(unschedulable="0/3 nodes: Insufficient cpu")])
    )
    assert "Insufficient cpu" in cond(status, "Degraded")["message"]


def test_image_pull_message_names_the_image() -> None:
    status = compute_status(
        observe(deployment=deployment(), pods=[pod(waiting="ErrImagePull", waiting_message="nope")])
    )
    message = cond(status, "Degraded")["message"]
    assert "example/backend:1" in message
    assert "nope" in message


def test_the_most_specific_reason_wins_and_affected_pods_are_counted() -> None:
    pods = [
        pod("chat-1", waiting="ImagePullBackOff"),
        pod("chat-2", waiting="CrashLoopBackOff", last_terminated={"reason": "OOMKilled"}),
        pod("chat-3", waiting="CrashLoopBackOff", last_terminated={"reason": "OOMKilled"}),
    ]
    status = compute_status(observe(deployment=deployment(ready=0, replicas=3), pods=pods))
    degraded = cond(status, "Degraded")
    assert degraded["reason"] == "OOMKilled"
    assert "2 pods affected" in degraded["message"]


def test_terminating_pods_are_ignored() -> None:
    status = compute_status(
        observe(
            deployment=deployment(ready=2),
            hpa=hpa(),
            pods=[pod("old", waiting="CrashLoopBackOff", deleting=True)],
        )
    )
    assert status["phase"] == "Ready"
    assert cond(status, "Degraded")["status"] == "False"


def test_a_failing_surge_pod_degrades_a_fully_ready_service() -> None:
    status = compute_status(
        observe(
            deployment=deployment(ready=2, replicas=3),
            hpa=hpa(),
            pods=[pod("chat-0"), pod("chat-2"), pod("chat-new", waiting="ImagePullBackOff")],
        )
    )
    # Every wanted pod serves, so Ready holds; the failing new pod is reported.
    assert cond(status, "Ready")["status"] == "True"
    assert cond(status, "Degraded")["reason"] == "ImagePullBackOff"
    assert status["phase"] == "Degraded"


def test_progress_deadline_is_degraded() -> None:
    dep = deployment(
        ready=1,
        replicas=2,
        conditions=[
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "chat-abc" has timed out progressing.',
            }
        ],
    )
    status = compute_status(observe(deployment=dep))
    assert cond(status, "Degraded")["reason"] == "ProgressDeadlineExceeded"
    assert status["phase"] == "Degraded"


def test_replica_failure_is_degraded() -> None:
    dep = deployment(
        conditions=[
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": "quota",
            }
        ]
    )
    status = compute_status(observe(deployment=dep))
    degraded = cond(status, "Degraded")
    assert (degraded["reason"], degraded["message"]) == ("ReplicaFailure", "quota")


def test_recovery_clears_degraded() -> None:
    bad = compute_status(
        observe(deployment=deployment(ready=1, replicas=2), pods=[pod(waiting="CrashLoopBackOff")])
    )
    good = compute_status(
        observe(
            deployment=deployment(ready=2),
            hpa=hpa(),
            pods=[pod("chat-1")],
            previous_conditions=bad["conditions"],
            now=T1,
        )
    )
    degraded = cond(good, "Degraded")
    assert (degraded["status"], degraded["lastTransitionTime"]) == ("False", T1)
    assert good["phase"] == "Ready"


# --------------------------------------------------------------------------------------
# blocked: invalid spec and name conflicts


def test_invalid_spec_is_failed_and_names_the_field() -> None:
    message = "spec.autoscaling.minReplicas: must not exceed maxReplicas"
    status = compute_status(observe(spec=None, invalid_spec=message))
    assert status["phase"] == "Failed"
    ready = cond(status, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "InvalidSpec", message)
    assert cond(status, "Progressing")["status"] == "False"
    assert "endpoint" not in status


def test_invalid_spec_with_a_parsed_spec_keeps_counts() -> None:
    status = compute_status(
        observe(deployment=deployment(ready=2), invalid_spec="spec.model.name: bad")
    )
    assert status["phase"] == "Failed"
    assert cond(status, "Ready")["reason"] == "InvalidSpec"
    assert status["readyReplicas"] == 2
    assert cond(status, "Available")["status"] == "True"


def test_name_conflict_is_failed() -> None:
    message = "Deployment ns/chat exists and is not controlled by this LLMService"
    status = compute_status(observe(deployment=None, name_conflict=message))
    assert status["phase"] == "Failed"
    ready = cond(status, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "NameConflict",
        message,
    )
    assert cond(status, "Degraded")["reason"] == "NameConflict"


# --------------------------------------------------------------------------------------
# condition times


def test_last_transition_time_is_kept_while_status_and_reason_hold() -> None:
    first = compute_status(observe(deployment=deployment(ready=1, replicas=2)))
    second = compute_status(
        observe(
            deployment=deployment(ready=1, replicas=2, updated=2),
            previous_conditions=first["conditions"],
            now=T1,
        )
    )
    assert second == first  # nothing changed: same status, same times


def test_last_transition_time_moves_when_status_changes() -> None:
    first = compute_status(observe(deployment=deployment(ready=1, replicas=2)))
    second = compute_status(
        observe(
            deployment=deployment(ready=2),
            hpa=hpa(),
            previous_conditions=first["conditions"],
            now=T1,
        )
    )
    assert cond(second, "Ready")["lastTransitionTime"] == T1
    # Available stayed True with the same reason: its time is kept.
    assert cond(second, "Available")["lastTransitionTime"] == T0


def test_condition_generation_follows_the_spec_generation() -> None:
    status = compute_status(observe(generation=7, deployment=deployment(ready=2), hpa=hpa()))
    assert {c["observedGeneration"] for c in status["conditions"]} == {7}
    assert status["observedGeneration"] == 7


def test_conditions_are_in_a_stable_order() -> None:
    status = compute_status(observe())
    assert [c["type"] for c in status["conditions"]] == [
        "Ready",
        "Available",
        "Progressing",
        "Degraded",
        "ScalingLimited",
        "Reconciling",
        "Stalled",
    ]


# --------------------------------------------------------------------------------------
# projections


def test_projections_keep_what_status_reads() -> None:
    dep = deployment(ready=2, conditions=[{"type": "Available", "status": "True"}])
    dep["metadata"]["managedFields"] = [{"manager": "x"}]
    dep["spec"]["template"] = {"spec": {"containers": [{"name": "backend"}]}}
    h = hpa(cpu=50, last_scale=T0)
    p = pod(waiting="CrashLoopBackOff", last_terminated={"reason": "OOMKilled"})
    p["spec"] = {"containers": [{"name": "backend", "image": "x"}]}
    full = compute_status(observe(deployment=dep, hpa=h, pods=[p]))
    projected = compute_status(
        observe(deployment=project_deployment(dep), hpa=project_hpa(h), pods=[project_pod(p)])
    )
    assert projected == full
    assert "template" not in project_deployment(dep)["spec"]
    assert "spec" not in project_pod(p)


# --------------------------------------------------------------------------------------
# properties

counts_st = st.integers(min_value=-3, max_value=12)
maybe_counts = st.one_of(st.none(), counts_st)


@st.composite
def worlds(draw: st.DrawFn) -> Observed:
    enabled = draw(st.booleans())
    lo = draw(st.integers(min_value=1, max_value=5))
    hi = draw(st.integers(min_value=lo, max_value=8))
    s = spec(
        replicas=draw(st.integers(min_value=0, max_value=8)),
        autoscaling={"enabled": enabled, "minReplicas": lo, "maxReplicas": hi},
    )
    dep = None
    if draw(st.booleans()):
        dep = {
            "metadata": {"name": "chat", "generation": draw(st.integers(1, 4))},
            "spec": {"replicas": draw(counts_st)},
            "status": {
                "observedGeneration": draw(st.integers(0, 4)),
                "replicas": draw(maybe_counts),
                "readyReplicas": draw(maybe_counts),
                "availableReplicas": draw(maybe_counts),
                "updatedReplicas": draw(maybe_counts),
            },
        }
    h = None
    if draw(st.booleans()):
        h = hpa(
            current=draw(counts_st),
            desired=draw(counts_st),
            cpu=draw(st.one_of(st.none(), st.integers(0, 300))),
            limited=draw(st.sampled_from([None, "TooManyReplicas", "TooFewReplicas"])),
        )
    pods = draw(
        st.lists(
            st.sampled_from(
                [
                    pod("a"),
                    pod("b", waiting="CrashLoopBackOff"),
                    pod("c", waiting="ErrImagePull"),
                    pod("d", unschedulable="no"),
                    pod("e", last_terminated={"reason": "OOMKilled"}),
                ]
            ),
            max_size=4,
        )
    )
    return observe(
        spec=s,
        deployment=dep,
        hpa=h,
        pods=pods,
        generation=draw(st.integers(1, 5)),
        name_conflict=draw(st.sampled_from([None, "taken"])),
    )


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_status_is_deterministic(world: Observed) -> None:
    assert compute_status(world) == compute_status(world)


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_recomputing_from_the_stored_status_changes_nothing(world: Observed) -> None:
    first = compute_status(world)
    later = Observed(**{**world.__dict__, "previous_conditions": first["conditions"], "now": T1})
    assert compute_status(later) == first


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_counts_are_never_negative_and_ready_text_matches(world: Observed) -> None:
    status = compute_status(world)
    keys = ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas", "desiredReplicas")
    assert all(status[k] >= 0 for k in keys)
    assert status["ready"] == f"{status['readyReplicas']}/{status['desiredReplicas']}"
    LLMServiceStatus.model_validate(status)


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_phase_agrees_with_the_ready_condition(world: Observed) -> None:
    status = compute_status(world)
    ready = cond(status, "Ready")["status"] == "True"
    if status["phase"] == "Ready":
        assert ready
    if ready:
        # Serving at its floor while it changes, or while some pod fails.
        assert status["phase"] in ("Ready", "Progressing", "Degraded")
    if status["phase"] == "Progressing":
        assert cond(status, "Progressing")["status"] == "True"
    if status["phase"] == "Degraded":
        assert cond(status, "Degraded")["status"] == "True"


@pytest.mark.parametrize(
    ("computed", "expected"),
    [
        ({"phase": "Pending"}, False),
        ({"phase": "Progressing"}, False),
        ({"phase": "Ready", "autoscaling": {"state": "Stable", "minReplicas": 2}}, False),
        ({"phase": "Ready", "autoscaling": {"state": "Stable", "desiredReplicas": 2}}, True),
        ({"phase": "Ready", "autoscaling": {"state": "Disabled"}}, True),
        ({"phase": "Degraded"}, True),
        ({"phase": "Failed"}, True),
    ],
)
def test_settled_says_when_a_first_status_is_worth_writing(
    computed: dict[str, Any], expected: bool
) -> None:
    assert settled(computed) is expected
