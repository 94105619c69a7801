"""Each pod's progress with its model (``status.model``), as a pure function.

A pod spends minutes between Running and Ready while its backend has Ollama download the
model and load it. The kubelet only knows "not ready"; the backend knows how far the
download got and says so on ``/readyz`` (the readiness probe's own endpoint, answered
without a key). The operator reads that answer from the pods that are running but not
ready (:mod:`llmservice_operator.runtime.modelprobe`), so the pods need no API permission
to report anything, and this module turns pods and answers into the status.

Percentages are reported in steps of :data:`PERCENT_STEP`, so a download costs about ten
status writes per pod rather than one per poll.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Obj = Mapping[str, Any]

PERCENT_STEP = 10
# The backend's phases (its /readyz "phase") in the states the status uses.
_STATES = {
    "starting": "Starting",
    "waiting_for_ollama": "Starting",
    "checking": "Starting",
    "pulling": "Pulling",
    "warming": "Loading",
    "ready": "Ready",
    "failed": "Failed",
}
# Order of the summary: what needs attention first.
_ORDER = ("Failed", "Unknown", "Waiting", "Starting", "Pulling", "Loading", "Ready")
BACKEND_CONTAINER = "backend"


def _name(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def backend_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or ():
        if cs.get("name") == BACKEND_CONTAINER:
            return cs.get("ready") is True
    return False


def starting(pod: Obj) -> bool:
    """Running, with an address, and its backend not ready: worth asking how far it got."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    return (
        not meta.get("deletionTimestamp")
        and status.get("phase") == "Running"
        and bool(status.get("podIP"))
        and not backend_ready(pod)
    )


def from_readyz(body: Any) -> dict[str, Any]:
    """A pod's state and download percentage from its backend's ``/readyz`` answer."""
    if not isinstance(body, Mapping):
        return {"state": "Unknown"}
    state = _STATES.get(str(body.get("phase")), "Unknown")
    out: dict[str, Any] = {"state": state}
    progress = body.get("progress")
    if state == "Pulling" and isinstance(progress, Mapping):
        percent = progress.get("percent")
        if isinstance(percent, int | float) and not isinstance(percent, bool):
            stepped = int(max(0.0, min(100.0, float(percent))) // PERCENT_STEP) * PERCENT_STEP
            out["percent"] = stepped
    return out


def pod_model_states(pods: Sequence[Obj], answers: Mapping[str, Obj]) -> list[dict[str, Any]]:
    """Each pod's state: Ready from the kubelet's word, Waiting before it runs, and for a
    starting pod what its backend answered (``answers``, by pod name; a pod not asked
    yet is Starting)."""
    out: list[dict[str, Any]] = []
    for pod in sorted(pods, key=_name):
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        name = _name(pod)
        if backend_ready(pod):
            entry: dict[str, Any] = {"state": "Ready"}
        elif (pod.get("status") or {}).get("phase") != "Running":
            entry = {"state": "Waiting"}
        else:
            entry = dict(answers.get(name) or {"state": "Starting"})
            if entry.get("state") == "Ready":
                entry = {"state": "Loading"}  # the backend is, the kubelet has not seen it yet
        out.append({"name": name, **entry})
    return out


def summary(states: Sequence[Obj]) -> str:
    """``1 Ready, 1 Pulling 40%``: pods by state, the slowest download's percentage."""
    counts: dict[str, int] = {}
    for entry in states:
        counts[entry["state"]] = counts.get(entry["state"], 0) + 1
    parts = []
    for state in _ORDER:
        if state not in counts:
            continue
        text = f"{counts[state]} {state}"
        if state == "Pulling":
            percents = [e["percent"] for e in states if e["state"] == state and "percent" in e]
            if percents:
                text += f" {min(percents)}%"
        parts.append(text)
    return ", ".join(parts)


def model_status(pods: Sequence[Obj], answers: Mapping[str, Obj]) -> dict[str, Any] | None:
    """``status.model``, or None when there are no pods."""
    states = pod_model_states(pods, answers)
    if not states:
        return None
    return {"summary": summary(states), "pods": states}
