"""What a kubelet would report for a pod, as a pure function: spec, faults and age in,
``status`` out.

A simulated node (:mod:`nodes`) runs no containers; it reports them the way the kubelet
does, in the shapes the operator reads (``initContainerStatuses`` for native sidecars,
``lastState.terminated`` with a termination message, ``waiting`` reasons), and it can be
told to report a failure through an annotation on the pod, which a test sets through the
LLMService's ``spec.pod.annotations`` or on one pod with ``kubectl annotate``:

    testkit.llmservice.dev/fault: "CrashLoopBackOff"         # the backend container
    testkit.llmservice.dev/fault: "OOMKilled:ollama"         # the Ollama sidecar
    testkit.llmservice.dev/fault: "ImagePullBackOff:ollama"
    testkit.llmservice.dev/fault: "ModelPullFailed"          # backend exits 3 with the marker
    testkit.llmservice.dev/fault: "NotReady"                 # runs, never ready
    testkit.llmservice.dev/ready-after: "5"                  # seconds before Ready
    testkit.llmservice.dev/pod-ip: "127.0.0.1"               # the address reported

Removing the fault annotation makes the pod recover (its restart counts stay, and the
failure stays in ``lastState.terminated``, as the kubelet keeps it), as a fixed container
would. Unschedulable pods need no annotation: the real scheduler leaves them
Pending when no node has room.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

FAULT = "testkit.llmservice.dev/fault"
READY_AFTER = "testkit.llmservice.dev/ready-after"
# A pod address of the test's choosing: a test can serve what the pod would (its
# backend's /readyz, say) on the host and let the operator reach it there.
POD_IP = "testkit.llmservice.dev/pod-ip"
FAULTS = ("CrashLoopBackOff", "OOMKilled", "ImagePullBackOff", "ModelPullFailed", "NotReady")
DEFAULT_CONTAINER = "backend"
MODEL_PULL_MESSAGE = "model pull failed: pull model manifest: file does not exist"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Fault:
    kind: str
    container: str

    @classmethod
    def parse(cls, text: str | None) -> Fault | None:
        """``KIND[:CONTAINER]``; an unknown kind is reported, not ignored."""
        if not text:
            return None
        kind, _, container = text.partition(":")
        if kind not in FAULTS:
            raise ValueError(f"{FAULT}: unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        return cls(kind, container or DEFAULT_CONTAINER)


def ready_delay(pod: Obj, default: float) -> float:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(READY_AFTER)
    try:
        return max(0.0, float(raw)) if raw is not None else default
    except ValueError:
        return default


def pod_ip(pod: Obj) -> str | None:
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_IP) or None


def fault_of(pod: Obj) -> Fault | None:
    return Fault.parse(((pod.get("metadata") or {}).get("annotations") or {}).get(FAULT))


def _is_sidecar(container: Obj) -> bool:
    return container.get("restartPolicy") == "Always"


def _container_id(pod_uid: str, name: str) -> str:
    return "testkit://" + hashlib.sha256(f"{pod_uid}/{name}".encode()).hexdigest()[:32]


def _base(pod_uid: str, container: Obj) -> Obj:
    image = str(container.get("image", ""))
    return {
        "name": container["name"],
        "image": image,
        "imageID": f"testkit://{image}",
        "containerID": _container_id(pod_uid, container["name"]),
    }


def _failed(fault: Fault, base: Obj, started_at: str, pod_name: str) -> Obj:
    name = base["name"]
    if fault.kind == "ImagePullBackOff":
        return {
            **base,
            "containerID": None,
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
            "state": {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{base["image"]}"',
                }
            },
        }
    terminated: Obj = {"exitCode": 1, "reason": "Error"}
    if fault.kind == "OOMKilled":
        terminated = {"exitCode": 137, "reason": "OOMKilled"}
    elif fault.kind == "ModelPullFailed":
        terminated = {"exitCode": 3, "reason": "Error", "message": MODEL_PULL_MESSAGE}
    terminated.update(startedAt=started_at, finishedAt=started_at, containerID=base["containerID"])
    return {
        **base,
        "ready": False,
        "started": False,
        "restartCount": 3,
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 40s restarting failed container={name} pod={pod_name}",
            }
        },
        "lastState": {"terminated": terminated},
    }


def _running(
    base: Obj, started_at: str, ready: bool, restarts: int, reported: Obj | None = None
) -> Obj:
    """A running container; one that failed before keeps its restart count and its last
    termination from the status reported so far (``reported``)."""
    running: Obj = {
        **base,
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": started_at}},
    }
    last = ((reported or {}).get("lastState") or {}).get("terminated")
    if last:
        running["lastState"] = {"terminated": last}
        running["restartCount"] = max(restarts, int((reported or {}).get("restartCount") or 0))
    return running


def _reported(pod: Obj) -> dict[str, Obj]:
    """The container statuses the API server holds for the pod, by container name."""
    status = pod.get("status") or {}
    found: dict[str, Obj] = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or ():
            found[str(cs.get("name"))] = cs
    return found


def _condition(type_: str, ok: bool, at: str, reason: str | None = None) -> Obj:
    cond: Obj = {"type": type_, "status": "True" if ok else "False", "lastTransitionTime": at}
    if reason:
        cond["reason"] = reason
    return cond


def pod_status(
    pod: Obj,
    *,
    host_ip: str,
    pod_ip: str,
    started_at: str,
    now: str,
    ready: bool,
    restarts: int = 0,
) -> Obj:
    """The status a kubelet would report now; ``ready`` says whether the start-up delay has
    passed (readiness probes would pass), ``restarts`` counts earlier faults."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    uid = str(meta.get("uid", ""))
    name = str(meta.get("name", ""))
    fault = fault_of(pod)
    reported = _reported(pod)
    init_statuses: list[Obj] = []
    initialized = True
    for container in spec.get("initContainers") or ():
        base = _base(uid, container)
        if fault and fault.container == container["name"] and fault.kind != "NotReady":
            init_statuses.append(_failed(fault, base, started_at, name))
            initialized = False
        elif _is_sidecar(container):
            is_ready = ready and not (fault and fault.container == container["name"])
            init_statuses.append(
                _running(base, started_at, is_ready, restarts, reported.get(container["name"]))
            )
        else:
            done = {"exitCode": 0, "reason": "Completed", "startedAt": started_at}
            done.update(finishedAt=started_at, containerID=base["containerID"])
            init_statuses.append(
                {
                    **base,
                    "ready": True,
                    "started": False,
                    "restartCount": 0,
                    "state": {"terminated": done},
                }
            )
    statuses: list[Obj] = []
    for container in spec.get("containers") or ():
        base = _base(uid, container)
        if not initialized:
            statuses.append(
                {
                    **base,
                    "containerID": None,
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}},
                }
            )
        elif fault and fault.container == container["name"] and fault.kind != "NotReady":
            statuses.append(_failed(fault, base, started_at, name))
        else:
            is_ready = ready and not (fault and fault.container == container["name"])
            statuses.append(
                _running(base, started_at, is_ready, restarts, reported.get(container["name"]))
            )
    all_ready = all(s["ready"] for s in statuses) and all(s["ready"] for s in init_statuses)
    scheduled = next(
        (
            c
            for c in (pod.get("status") or {}).get("conditions") or ()
            if c.get("type") == "PodScheduled"
        ),
        _condition("PodScheduled", True, started_at),
    )
    not_ready = None if all_ready else "ContainersNotReady"
    status: Obj = {
        "phase": "Running" if initialized else "Pending",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": started_at,
        "conditions": [
            _condition("PodReadyToStartContainers", True, started_at),
            _condition(
                "Initialized",
                initialized,
                started_at,
                None if initialized else "ContainersNotInitialized",
            ),
            _condition("Ready", all_ready, now, not_ready),
            _condition("ContainersReady", all_ready, now, not_ready),
            scheduled,
        ],
        "containerStatuses": statuses,
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return status


def summary(status: Obj) -> tuple[Any, ...]:
    """What matters of a pod's status (not its timestamps), for the report to make and for
    the status the API server holds alike: when they agree, nothing is sent. The Ready
    conditions count too: the node lifecycle controller sets them False on its own when a
    node misses its heartbeats, and the kubelet's next report puts them right."""

    def containers(key: str) -> tuple[Any, ...]:
        return tuple(
            (c.get("name"), c.get("ready"), c.get("restartCount"), tuple(c.get("state") or ()))
            for c in status.get(key) or ()
        )

    ready = tuple(
        (c.get("type"), c.get("status"))
        for c in status.get("conditions") or ()
        if c.get("type") in ("Ready", "ContainersReady")
    )
    return (
        status.get("phase"),
        containers("initContainerStatuses"),
        containers("containerStatuses"),
        tuple(sorted(ready, key=str)),
    )
