"""The LLMService status as a pure function of what the operator observes.

Everything the status says comes from the arguments: the LLMService's generation and spec,
its Deployment, HorizontalPodAutoscaler and Pods as the API server reports them, the
previous conditions and the clock. No API access, so the same world always gives the same
status, a restarted operator computes exactly what is already stored (and writes nothing),
and every phase and reason can be tested without a cluster.

Counts come from the Deployment's status (what kube-controller-manager reports, like
``kubectl get deploy``); the Pods are read for *why* something is wrong: a container in
CrashLoopBackOff, an image that cannot be pulled, an OOM kill, a model pull that failed,
a pod the scheduler cannot place.

A failed model pull surfaces through the backend container: it pulls the model at start
and, when the pull fails for good, exits with a termination message that starts with
:data:`MODEL_PULL_FAILED_MARKER` (the kubelet copies it into the container's
``state``/``lastState.terminated.message``). Any container message carrying the marker is
reported as ModelPullFailed, ahead of the CrashLoopBackOff the exit then causes.

Problems are read from each container's *current* state, so a pod that has recovered
stops counting at the next pass: a container counts while it waits (CrashLoopBackOff,
ImagePullBackOff, ...), while it is terminated, and, for its last termination (an OOM kill,
a failed model pull), while it is in back-off or not ready again within
:data:`RESTART_WINDOW` seconds of that termination. Once Ready it counts no more.

Ready means serving: True while at least the service's floor of pods (``minReplicas`` with
autoscaling, ``replicas`` without, never more than are desired) is ready, so a scale-up or
a rollout that keeps old pods until new ones are ready does not look like an outage.
Pods that wait for a node while others serve are progress (``WaitingForCapacity``) for
:data:`CAPACITY_GRACE` seconds before the service is Degraded; with no pod serving it is
Degraded at once. Where the clock alone will change the status (a grace or a window
running out), :func:`next_change` says when.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from llmservice_operator.api import naming
from llmservice_operator.api.models import (
    AVAILABLE,
    CONDITION_TYPES,
    DEGRADED,
    PROGRESSING,
    READY,
    RECONCILING,
    SCALING_LIMITED,
    STALLED,
    LLMServiceSpec,
    LLMServiceStatus,
)
from llmservice_operator.core import modelprogress, scalingmetrics

Obj = Mapping[str, Any]

MODEL_PULL_FAILED_MARKER = "model pull failed"

# Reasons, most specific first: the first one found names the Degraded condition.
MODEL_PULL_FAILED = "ModelPullFailed"
OOM_KILLED = "OOMKilled"
CRASH_LOOP = "CrashLoopBackOff"
IMAGE_PULL = "ImagePullBackOff"
UNSCHEDULABLE = "Unschedulable"
PROGRESS_DEADLINE = "ProgressDeadlineExceeded"
REPLICA_FAILURE = "ReplicaFailure"
DEGRADED_REASONS = (
    MODEL_PULL_FAILED,
    OOM_KILLED,
    CRASH_LOOP,
    IMAGE_PULL,
    UNSCHEDULABLE,
    PROGRESS_DEADLINE,
    REPLICA_FAILURE,
)
IMAGE_PULL_WAITING = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})

# Reasons of a status the operator cannot make progress from without the user.
INVALID_SPEC = "InvalidSpec"
NAME_CONFLICT = "NameConflict"

# What ScalingLimited says while the autoscaler owns the count, and the Warning event
# (reason ReplicasIgnored) repeats when spec.replicas is changed anyway.
REPLICAS_IGNORED = "ReplicasIgnored"
REPLICAS_IGNORED_TEXT = "spec.replicas and kubectl scale have no effect while autoscaling is on"

# Reasons of a service that serves while it changes.
WAITING_FOR_CAPACITY = "WaitingForCapacity"
SERVING = "MinimumReplicasReady"

# Seconds a container that restarted after an OOM kill or a failed model pull keeps
# counting as that problem while it is not ready again (in back-off it always counts).
RESTART_WINDOW = 300.0
# Seconds pods may wait for a node while others serve before the service is Degraded:
# time for a cluster autoscaler to add one (typically 1-5 minutes).
CAPACITY_GRACE = 600.0


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime | None:
    """A Kubernetes timestamp, or None when absent or not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Observed:
    """The world one status is computed from."""

    name: str
    namespace: str
    generation: int
    spec: LLMServiceSpec | None  # None when the stored spec is invalid
    deployment: Obj | None = None
    hpa: Obj | None = None
    pods: Sequence[Obj] = ()
    previous_conditions: Sequence[Obj] = ()
    now: str = "1970-01-01T00:00:00Z"
    invalid_spec: str | None = None  # message naming the field at fault
    name_conflict: str | None = None  # message naming the object in the way
    restart_window: float = RESTART_WINDOW
    capacity_grace: float = CAPACITY_GRACE
    # What the backends of starting pods said of their model, by pod name
    # (:func:`modelprogress.from_readyz`).
    model_answers: Mapping[str, Obj] = field(default_factory=dict)

    @property
    def moment(self) -> datetime:
        return parse_time(self.now) or datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------------------
# projections: the few fields status reads, so callers can keep many objects in memory


def _pick(obj: Obj | None, *keys: str) -> dict[str, Any]:
    if not obj:
        return {}
    return {k: obj[k] for k in keys if obj.get(k) is not None}


def project_deployment(body: Obj) -> dict[str, Any]:
    """The parts of a Deployment that :func:`compute_status` reads."""
    meta = body.get("metadata") or {}
    return {
        "metadata": _pick(meta, "name", "generation", "resourceVersion"),
        "spec": _pick(body.get("spec"), "replicas"),
        "status": _pick(
            body.get("status"),
            "observedGeneration",
            "replicas",
            "readyReplicas",
            "availableReplicas",
            "updatedReplicas",
            "unavailableReplicas",
            "conditions",
        ),
    }


def project_hpa(body: Obj) -> dict[str, Any]:
    """The parts of a HorizontalPodAutoscaler that :func:`compute_status` reads."""
    meta = body.get("metadata") or {}
    return {
        "metadata": _pick(meta, "name", "resourceVersion"),
        "spec": _pick(body.get("spec"), "minReplicas", "maxReplicas"),
        "status": _pick(
            body.get("status"),
            "currentReplicas",
            "desiredReplicas",
            "currentMetrics",
            "lastScaleTime",
            "conditions",
        ),
    }


def _project_container_status(cs: Obj) -> dict[str, Any]:
    return _pick(cs, "name", "ready", "restartCount", "state", "lastState", "image")


def project_pod(body: Obj) -> dict[str, Any]:
    """The parts of a Pod that :func:`compute_status` reads."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    return {
        "metadata": _pick(meta, "name", "deletionTimestamp"),
        "status": {
            "phase": status.get("phase"),
            **({"podIP": status["podIP"]} if status.get("podIP") else {}),
            "conditions": [
                _pick(c, "type", "status", "reason", "message", "lastTransitionTime")
                for c in status.get("conditions") or ()
            ],
            "initContainerStatuses": [
                _project_container_status(c) for c in status.get("initContainerStatuses") or ()
            ],
            "containerStatuses": [
                _project_container_status(c) for c in status.get("containerStatuses") or ()
            ],
        },
    }


# --------------------------------------------------------------------------------------
# reading the observed objects


def _int(value: Any) -> int:
    """A count from the API; absent, null or nonsense counts as 0 (never negative)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, value)


def _conditions_of(obj: Obj | None) -> dict[str, Obj]:
    status = (obj or {}).get("status") or {}
    return {c.get("type", ""): c for c in status.get("conditions") or () if isinstance(c, Mapping)}


@dataclass(frozen=True)
class Problem:
    """Why the service is not healthy: a reason from :data:`DEGRADED_REASONS` and detail.

    ``until`` is when the clock alone ends it (a restart window running out); ``since`` is
    when it began, where that matters (how long a pod has waited for a node)."""

    reason: str
    message: str
    until: datetime | None = None
    since: datetime | None = None


def _last_termination_counts(
    cs: Obj, waiting: bool, now: datetime | None, window: float
) -> tuple[bool, datetime | None]:
    """Whether a container's last termination still says something about it now, and
    until when: always while it waits to restart; while it is not ready again, for
    ``window`` seconds after the termination; never once it is ready."""
    if waiting:
        return True, None
    if cs.get("ready") is True:
        return False, None
    if now is None:
        return True, None
    finished = parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
    if finished is None:
        return True, None
    until = finished + timedelta(seconds=window)
    return now < until, until


def _container_problems(
    pod_name: str, statuses: Sequence[Obj], now: datetime | None, window: float
) -> list[Problem]:
    found: list[Problem] = []
    for cs in statuses:
        name = cs.get("name", "?")
        where = f"pod {pod_name} container {name}"
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        terminations: list[tuple[Obj, datetime | None]] = []
        if state.get("terminated"):
            terminations.append((state["terminated"], None))
        last = (cs.get("lastState") or {}).get("terminated")
        if last:
            counts_now, until = _last_termination_counts(cs, bool(waiting), now, window)
            if counts_now:
                terminations.append((last, until))
        for t, until in terminations:
            message = str(t.get("message") or "")
            if MODEL_PULL_FAILED_MARKER in message.lower():
                found.append(Problem(MODEL_PULL_FAILED, f"{where}: {message.strip()}", until))
                break
        for t, until in terminations:
            if t.get("reason") == OOM_KILLED:
                text = f"{where} was killed for using more memory than its limit"
                found.append(Problem(OOM_KILLED, text, until))
                break
        reason = waiting.get("reason")
        detail = str(waiting.get("message") or "").strip()
        suffix = f": {detail}" if detail else ""
        if reason == CRASH_LOOP:
            restarts = _int(cs.get("restartCount"))
            found.append(
                Problem(CRASH_LOOP, f"{where} is crash-looping ({restarts} restarts){suffix}")
            )
        elif reason in IMAGE_PULL_WAITING:
            image = cs.get("image") or "its image"
            found.append(Problem(IMAGE_PULL, f"{where} cannot pull {image} ({reason}){suffix}"))
    return found


def pod_problems(
    pod: Obj, now: datetime | None = None, restart_window: float = RESTART_WINDOW
) -> list[Problem]:
    """Everything wrong with one pod now, most specific first (``now`` None: no
    restart window applies, a last termination counts until the container is ready)."""
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return []  # on its way out: what it does now does not matter
    name = meta.get("name", "?")
    status = pod.get("status") or {}
    found = _container_problems(
        name, status.get("initContainerStatuses") or (), now, restart_window
    )
    found += _container_problems(name, status.get("containerStatuses") or (), now, restart_window)
    scheduled = _conditions_of(pod).get("PodScheduled")
    if (
        scheduled
        and scheduled.get("status") == "False"
        and scheduled.get("reason") == UNSCHEDULABLE
    ):
        detail = str(scheduled.get("message") or "no node fits").strip()
        found.append(
            Problem(
                UNSCHEDULABLE,
                f"pod {name} cannot be scheduled: {detail}",
                since=parse_time(scheduled.get("lastTransitionTime")),
            )
        )
    return found


def deployment_problems(deployment: Obj | None) -> list[Problem]:
    conditions = _conditions_of(deployment)
    found: list[Problem] = []
    progressing = conditions.get("Progressing")
    if progressing and progressing.get("reason") == PROGRESS_DEADLINE:
        found.append(
            Problem(PROGRESS_DEADLINE, str(progressing.get("message") or "rollout stalled"))
        )
    failure = conditions.get("ReplicaFailure")
    if failure and failure.get("status") == "True":
        found.append(
            Problem(REPLICA_FAILURE, str(failure.get("message") or "pods cannot be created"))
        )
    return found


@dataclass(frozen=True)
class Findings:
    """What is wrong, and what is only waiting: the most specific problem and how many pods
    share its reason; pods waiting for capacity while others serve (and until when they
    may); the earliest moment the clock alone changes either."""

    problem: Problem | None
    affected: int
    capacity_wait: Problem | None
    next_change: datetime | None


def find_problems(
    deployment: Obj | None,
    pods: Sequence[Obj],
    *,
    serving: bool = False,
    now: datetime | None = None,
    restart_window: float = RESTART_WINDOW,
    capacity_grace: float = CAPACITY_GRACE,
) -> Findings:
    """Sort the observed trouble into problems and waits. While some pod serves, pods the
    scheduler cannot place yet wait for capacity until ``capacity_grace`` seconds after
    they became unschedulable; then, or at once when nothing serves, they are a problem."""
    per_pod = [pod_problems(p, now, restart_window) for p in sorted(pods, key=_pod_name)]
    deadlines = [p.until for found in per_pod for p in found if p.until is not None]
    capacity_wait: Problem | None = None
    if serving and now is not None:
        kept: list[list[Problem]] = []
        for found in per_pod:
            keep = []
            for problem in found:
                if problem.reason == UNSCHEDULABLE and problem.since is not None:
                    ends = problem.since + timedelta(seconds=capacity_grace)
                    if now < ends:
                        deadlines.append(ends)
                        if capacity_wait is None or problem.since < (capacity_wait.since or now):
                            capacity_wait = Problem(
                                WAITING_FOR_CAPACITY,
                                problem.message,
                                until=ends,
                                since=problem.since,
                            )
                        continue
                keep.append(problem)
            kept.append(keep)
        per_pod = kept
    problems = deployment_problems(deployment) + [p for found in per_pod for p in found]
    next_change = min(deadlines) if deadlines else None
    if not problems:
        return Findings(None, 0, capacity_wait, next_change)
    rank = {reason: i for i, reason in enumerate(DEGRADED_REASONS)}
    best = min(problems, key=lambda p: rank.get(p.reason, len(rank)))
    affected = sum(1 for found in per_pod if any(p.reason == best.reason for p in found))
    return Findings(best, affected, capacity_wait, next_change)


def first_problem(deployment: Obj | None, pods: Sequence[Obj]) -> tuple[Problem, int] | None:
    """The most specific problem and how many pods share its reason (None when healthy),
    with no clock: every last termination of a container not ready again counts, and
    unschedulable pods are a problem."""
    found = find_problems(deployment, pods)
    return None if found.problem is None else (found.problem, found.affected)


def _pod_name(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


# --------------------------------------------------------------------------------------
# counts and autoscaling


@dataclass(frozen=True)
class Counts:
    replicas: int
    ready: int
    available: int
    updated: int
    desired: int


def desired_replicas(spec: LLMServiceSpec | None, deployment: Obj | None, hpa: Obj | None) -> int:
    """Pods wanted right now: spec.replicas without autoscaling; otherwise what the HPA
    wants, or (before the HPA has acted) the Deployment's replicas within min..max."""
    dep_spec = (deployment or {}).get("spec") or {}
    if spec is None:
        return _int(dep_spec.get("replicas"))
    auto = spec.autoscaling
    if not auto.enabled:
        return spec.replicas
    hpa_desired = _int(((hpa or {}).get("status") or {}).get("desiredReplicas"))
    if hpa is not None and hpa_desired > 0:
        return hpa_desired
    current = dep_spec.get("replicas")
    base = _int(current) if current is not None else auto.min_replicas
    return min(max(base, auto.min_replicas), auto.max_replicas)


def counts(spec: LLMServiceSpec | None, deployment: Obj | None, hpa: Obj | None) -> Counts:
    status = (deployment or {}).get("status") or {}
    return Counts(
        replicas=_int(status.get("replicas")),
        ready=_int(status.get("readyReplicas")),
        available=_int(status.get("availableReplicas")),
        updated=_int(status.get("updatedReplicas")),
        desired=desired_replicas(spec, deployment, hpa),
    )


def utilization(hpa: Obj | None) -> dict[str, int]:
    """The average use of each resource the HPA measures, in percent of requests."""
    found: dict[str, int] = {}
    for metric in ((hpa or {}).get("status") or {}).get("currentMetrics") or ():
        if metric.get("type") != "Resource":
            continue
        res = metric.get("resource") or {}
        value = (res.get("current") or {}).get("averageUtilization")
        if isinstance(value, int) and not isinstance(value, bool):
            found.setdefault(str(res.get("name")), max(0, value))
    return found


def settled(computed: Obj) -> bool:
    """Whether a status says something a user should see now: the service is Ready and its
    autoscaler (if any) has reported, or something is wrong (Degraded, Failed). A new
    LLMService's first status waits a little for this (``controller``), so that one that
    starts quickly is reported once rather than once per step on the way."""
    phase = computed.get("phase")
    if phase in ("Degraded", "Failed"):
        return True
    if phase != "Ready":
        return False
    autoscaling = computed.get("autoscaling") or {}
    return autoscaling.get("state") == "Disabled" or "desiredReplicas" in autoscaling


def autoscaling_status(spec: LLMServiceSpec, hpa: Obj | None) -> dict[str, Any]:
    auto = spec.autoscaling
    if not auto.enabled:
        return {"state": "Disabled"}
    out: dict[str, Any] = {"minReplicas": auto.min_replicas, "maxReplicas": auto.max_replicas}
    hpa_status = (hpa or {}).get("status") or {}
    current = hpa_status.get("currentReplicas")
    desired = hpa_status.get("desiredReplicas")
    if current is not None:
        out["currentReplicas"] = _int(current)
    if desired is not None:
        out["desiredReplicas"] = _int(desired)
    used = utilization(hpa)
    cpu, memory = used.get("cpu"), used.get("memory")
    if cpu is not None:
        out["currentCPUUtilizationPercentage"] = cpu
    if memory is not None:
        out["currentMemoryUtilizationPercentage"] = memory
    if hpa_status.get("lastScaleTime"):
        out["lastScaleTime"] = hpa_status["lastScaleTime"]
    out["metrics"] = scalingmetrics.metric_statuses(auto, hpa)
    out["state"] = scaling_state(spec, hpa)
    return out


def scaling_state(spec: LLMServiceSpec, hpa: Obj | None) -> str:
    """Disabled, or what the HPA is doing (:func:`hpa_state`), its metrics' values against
    their targets deciding where its counts and conditions leave the answer open."""
    auto = spec.autoscaling
    if not auto.enabled:
        return "Disabled"
    state = hpa_state(hpa, auto.max_replicas)
    if state == "Stable":
        current = _int(((hpa or {}).get("status") or {}).get("currentReplicas"))
        load = scalingmetrics.pressure(scalingmetrics.metric_statuses(auto, hpa))
        if 0 < current <= auto.min_replicas and load == "Below":
            return "AtMinimum"  # the metrics ask for fewer pods than the floor
    return state


def hpa_state(hpa: Obj | None, max_replicas: int) -> str:
    """ScalingUp/Down while the HPA's wish differs from what runs, AtMaximum or AtMinimum
    when the HPA is held by a bound, Stable otherwise (the words of the status API)."""
    hpa_status = (hpa or {}).get("status") or {}
    current = _int(hpa_status.get("currentReplicas"))
    desired = _int(hpa_status.get("desiredReplicas"))
    if desired == 0:
        return "Stable"  # the HPA has not computed anything yet
    if _metrics_unavailable(hpa) is not None:
        return "MetricsUnavailable"
    if desired > current:
        return "ScalingUp"
    if desired < current:
        return "ScalingDown"
    limited = _conditions_of(hpa).get("ScalingLimited") or {}
    if limited.get("status") == "True":
        if limited.get("reason") == "TooManyReplicas":
            return "AtMaximum"
        if limited.get("reason") == "TooFewReplicas":
            return "AtMinimum"
    if 0 < max_replicas <= desired:
        return "AtMaximum"
    return "Stable"


# --------------------------------------------------------------------------------------
# conditions and phase


def _condition(type_: str, status: bool | None, reason: str, message: str) -> dict[str, str]:
    text = "Unknown" if status is None else ("True" if status else "False")
    return {"type": type_, "status": text, "reason": reason, "message": message}


def _metrics_unavailable(hpa: Obj | None) -> str | None:
    """The HPA's own words when it cannot compute a count (``ScalingActive`` False with a
    ``FailedGet...`` reason: no metrics API, or no metrics for the pods yet)."""
    active = _conditions_of(hpa).get("ScalingActive") or {}
    if active.get("status") == "False" and str(active.get("reason", "")).startswith("FailedGet"):
        return str(active.get("message") or active.get("reason"))
    return None


def _scaling_limited(spec: LLMServiceSpec, hpa: Obj | None) -> dict[str, str]:
    auto = spec.autoscaling
    if not auto.enabled:
        return _condition(SCALING_LIMITED, False, "AutoscalingDisabled", "autoscaling is off")
    unavailable = _metrics_unavailable(hpa)
    if unavailable is not None:
        return _condition(
            SCALING_LIMITED,
            True,
            "MetricsUnavailable",
            f"the autoscaler keeps the pod count as it is: {unavailable}",
        )
    limited = _conditions_of(hpa).get("ScalingLimited") or {}
    state = scaling_state(spec, hpa)
    if (limited.get("status") == "True" and limited.get("reason") == "TooManyReplicas") or (
        state == "AtMaximum"
    ):
        return _condition(
            SCALING_LIMITED,
            True,
            "MaxReplicasReached",
            f"the autoscaler is held at maxReplicas {auto.max_replicas}",
        )
    return _condition(
        SCALING_LIMITED,
        False,
        "DesiredWithinRange",
        f"the autoscaler works between {auto.min_replicas} and {auto.max_replicas} pods "
        f"({REPLICAS_IGNORED_TEXT})",
    )


def _rollout_current(deployment: Obj | None) -> bool:
    if deployment is None:
        return False
    meta = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    dep_generation = meta.get("generation")
    observed = status.get("observedGeneration")
    if dep_generation is None:
        return True
    return observed is not None and _int(observed) >= _int(dep_generation)


def serving_floor(spec: LLMServiceSpec, desired: int) -> int:
    """Ready pods the service needs to count as serving: its floor (``minReplicas`` with
    autoscaling, ``replicas`` without), never more than are wanted right now."""
    floor = spec.autoscaling.min_replicas if spec.autoscaling.enabled else spec.replicas
    return min(floor, desired)


def _base_conditions(obs: Observed, n: Counts, found: Findings) -> tuple[str, list[dict[str, str]]]:
    """Phase and the four health conditions of a valid, unblocked service."""
    assert obs.spec is not None
    text = f"{n.ready}/{n.desired} pods ready"
    floor = serving_floor(obs.spec, n.desired)
    # Pods of the previous template still counted (a rolling update's surge): the rollout
    # is not over although as many pods as desired may be ready, some of them old ones.
    old = max(0, n.replicas - n.updated)
    complete = (
        obs.deployment is not None
        and _rollout_current(obs.deployment)
        and n.ready >= n.desired
        and n.updated >= n.desired
        and old == 0
    )
    serving = obs.deployment is not None and n.ready >= floor
    if obs.deployment is None:
        waiting = ("WaitingForDeployment", "the Deployment has not been observed yet")
    elif found.capacity_wait is not None:
        wait = found.capacity_wait
        until = f" (Degraded from {format_time(wait.until)})" if wait.until else ""
        waiting = (WAITING_FOR_CAPACITY, f"{text}; waiting for capacity{until}: {wait.message}")
    elif not _rollout_current(obs.deployment) or n.updated < n.desired or old:
        left = f", {old} old still running" if old else ""
        waiting = ("RolloutInProgress", f"{n.updated}/{n.desired} pods updated{left}, {text}")
    else:
        waiting = ("PodsNotReady", text)

    problem = found.problem
    if problem is not None:
        more = f" ({found.affected} pods affected)" if found.affected > 1 else ""
        degraded = _condition(DEGRADED, True, problem.reason, problem.message + more)
    else:
        degraded = _condition(DEGRADED, False, "NoProblems", "no failing pods")

    if complete:
        reason = "ScaledToZero" if n.desired == 0 else "AllReplicasReady"
        ready = _condition(READY, True, reason, text)
    elif serving:
        ready = _condition(READY, True, SERVING, f"{text}, at least {floor} serving")
    elif problem is not None:
        ready = _condition(READY, False, problem.reason, problem.message)
    else:
        ready = _condition(READY, False, waiting[0], waiting[1])

    if n.desired == 0:
        available = _condition(AVAILABLE, False, "ScaledToZero", "no pods are wanted")
    elif n.available > 0:
        available = _condition(
            AVAILABLE, True, "MinimumReplicasAvailable", f"{n.available} pods available"
        )
    else:
        available = _condition(AVAILABLE, False, "NoReplicasAvailable", text)

    if problem is not None:
        phase = "Degraded"
        progressing = _condition(PROGRESSING, False, problem.reason, problem.message)
    elif complete:
        phase = "Ready"
        progressing = _condition(PROGRESSING, False, "RolloutComplete", text)
    else:
        phase = "Pending" if n.replicas == 0 and n.desired > 0 and not serving else "Progressing"
        progressing = _condition(PROGRESSING, True, waiting[0], waiting[1])
    return phase, [ready, available, progressing, degraded]


def _blocked(reason: str, message: str) -> list[dict[str, str]]:
    return [
        _condition(READY, False, reason, message),
        _condition(PROGRESSING, False, reason, message),
        _condition(DEGRADED, True, reason, message),
    ]


def stamp_conditions(
    fresh: Sequence[Mapping[str, str]],
    previous: Sequence[Obj],
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """Add observedGeneration and lastTransitionTime; the time is kept from the previous
    condition of the same type while its status and reason stay the same."""
    before = {c.get("type"): c for c in previous if isinstance(c, Mapping)}
    out: list[dict[str, Any]] = []
    for cond in fresh:
        old = before.get(cond["type"])
        since = now
        if (
            old is not None
            and old.get("status") == cond["status"]
            and old.get("reason") == cond["reason"]
            and old.get("lastTransitionTime")
        ):
            since = str(old["lastTransitionTime"])
        out.append({**cond, "lastTransitionTime": since, "observedGeneration": generation})
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
    out.sort(key=lambda c: order.get(c["type"], len(order)))
    return out


def findings(obs: Observed, n: Counts | None = None) -> Findings:
    """The problems and waits of the observed world, at its clock."""
    n = n or counts(obs.spec, obs.deployment, obs.hpa)
    return find_problems(
        obs.deployment,
        obs.pods,
        serving=n.ready > 0,
        now=obs.moment,
        restart_window=obs.restart_window,
        capacity_grace=obs.capacity_grace,
    )


def next_change(obs: Observed) -> float | None:
    """Seconds until the clock alone changes the status (a restart window or a capacity
    grace running out), or None: the operator looks again then, with nothing else new."""
    if obs.spec is None or obs.invalid_spec is not None or obs.name_conflict is not None:
        return None
    moment = findings(obs).next_change
    if moment is None:
        return None
    return max(0.0, (moment - obs.moment).total_seconds())


def _gitops_conditions(phase: str, fresh: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Reconciling and Stalled, the conditions kstatus reads (Flux, cli-utils): the service
    is reconciling while it progresses, and stalled when it cannot go on without the user
    (Failed) or fails with no pod serving. A service that serves while a pod fails is
    neither: kstatus calls it Current, and Degraded says what is wrong."""
    by_type = {c["type"]: c for c in fresh}
    progressing = by_type.get(PROGRESSING) or {}
    ready = by_type.get(READY) or {}
    degraded = by_type.get(DEGRADED) or {}
    if progressing.get("status") == "True":
        reconciling = _condition(
            RECONCILING, True, progressing["reason"], progressing.get("message", "")
        )
    else:
        reconciling = _condition(RECONCILING, False, "ReconcileComplete", f"phase {phase}")
    if phase == "Failed" or (degraded.get("status") == "True" and ready.get("status") != "True"):
        source = ready if phase == "Failed" else degraded
        stalled = _condition(STALLED, True, source["reason"], source.get("message", ""))
    else:
        stalled = _condition(STALLED, False, "NotStalled", f"phase {phase}")
    return [reconciling, stalled]


def compute_status(obs: Observed) -> dict[str, Any]:
    """The full ``status`` of the LLMService (camelCase, as stored)."""
    n = counts(obs.spec, obs.deployment, obs.hpa)
    status: dict[str, Any] = {
        "observedGeneration": obs.generation,
        "ready": f"{n.ready}/{n.desired}",
        "replicas": n.replicas,
        "readyReplicas": n.ready,
        "availableReplicas": n.available,
        "updatedReplicas": n.updated,
        "desiredReplicas": n.desired,
        "selector": naming.selector_string(obs.name),
    }
    if obs.spec is None:
        message = obs.invalid_spec or "the spec is invalid"
        status["phase"] = "Failed"
        fresh = _blocked(INVALID_SPEC, message)
    else:
        status["endpoint"] = naming.endpoint(obs.name, obs.namespace, obs.spec.service.port)
        status["autoscaling"] = autoscaling_status(obs.spec, obs.hpa)
        model = modelprogress.model_status(obs.pods, obs.model_answers)
        if model is not None:
            status["model"] = model
        phase, fresh = _base_conditions(obs, n, findings(obs, n))
        if obs.invalid_spec is not None:
            phase, fresh = "Failed", _blocked(INVALID_SPEC, obs.invalid_spec) + fresh[1:2]
        elif obs.name_conflict is not None:
            phase, fresh = "Failed", _blocked(NAME_CONFLICT, obs.name_conflict) + fresh[1:2]
        fresh = [*fresh, _scaling_limited(obs.spec, obs.hpa)]
        status["phase"] = phase
    fresh = [*fresh, *_gitops_conditions(status["phase"], fresh)]
    status["conditions"] = stamp_conditions(fresh, obs.previous_conditions, obs.generation, obs.now)
    return status


def condition(status: Obj | None, type_: str) -> Obj | None:
    """The condition of ``type_`` in a status dict, if any."""
    for cond in (status or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return dict(cond)
    return None


# --------------------------------------------------------------------------------------
# comparing statuses, and what a change of status tells the user


def merge_patch(current: Obj, new: Obj) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``current`` into ``new``: every key of
    ``new``, maps merged key by key and every key ``new`` no longer has set to None, at
    every depth. Nulling only the top-level keys left stale nested ones in place (a
    ``status.autoscaling.minReplicas`` after autoscaling was turned off): the status then
    never matched what the operator computed, and it wrote again on every pass."""
    out: dict[str, Any] = {}
    for key, value in new.items():
        before = current.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            out[key] = merge_patch(before, value)
        else:
            out[key] = value
    for key in current:
        if key not in new:
            out[key] = None
    return out


def same_status(a: Obj | None, b: Obj | None) -> bool:
    """Equal once read through the status model (CRD defaults cannot make them differ)."""
    try:
        left = LLMServiceStatus.model_validate(a or {}).to_api()
        right = LLMServiceStatus.model_validate(b or {}).to_api()
    except ValidationError:
        return False
    return left == right


def transitions(old: Obj, new: Obj) -> list[tuple[str, str, str]]:
    """The events a user should see for a status change: (type, reason, message)."""
    out: list[tuple[str, str, str]] = []
    old_ready = condition(old, READY) or {}
    new_ready = condition(new, READY) or {}
    old_deg = condition(old, DEGRADED) or {}
    new_deg = condition(new, DEGRADED) or {}
    reason = new_ready.get("reason")
    if reason in (INVALID_SPEC, NAME_CONFLICT):
        if (old_ready.get("reason"), old_ready.get("message")) != (
            reason,
            new_ready.get("message"),
        ):
            out.append(("Warning", str(reason), str(new_ready.get("message", ""))))
        return out
    if new_deg.get("status") == "True" and (
        old_deg.get("status") != "True" or old_deg.get("reason") != new_deg.get("reason")
    ):
        out.append(("Warning", "Degraded", f"{new_deg.get('reason')}: {new_deg.get('message')}"))
    elif old_deg.get("status") == "True" and new_deg.get("status") != "True":
        out.append(("Normal", "Recovered", f"no longer {old_deg.get('reason')}"))
    before, after = old.get("desiredReplicas"), new.get("desiredReplicas")
    if isinstance(before, int) and isinstance(after, int) and before != after and old_ready:
        who = "autoscaler" if (new.get("autoscaling") or {}).get("state") != "Disabled" else "spec"
        out.append(("Normal", "Scaled", f"desired pods {before} -> {after} ({who})"))
    return out
