"""The report's figures: pure functions of the objects fetched and the clock.

Counted as ``kubectl`` counts: a pod is ready when its ``Ready`` condition is True; its
containers are the regular ones plus the native sidecars (init containers with
``restartPolicy: Always``; Ollama runs that way), whose ``restartCount`` make the restarts.
What the autoscaler is doing is said in the operator's own words (``core.status``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.core import status
from llmservice_operator.tools.loadtest.stats import percentile

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Fetched:
    """The objects as the API server returned them (dicts, camelCase keys)."""

    name: str
    namespace: str
    llmservice: Obj
    deployment: Obj | None = None
    service: Obj | None = None
    hpa: Obj | None = None
    pods: Sequence[Obj] = ()


@dataclass(frozen=True)
class PodRow:
    name: str
    ready: bool
    containers_ready: int
    containers_total: int
    restarts: int
    status: str
    age: str
    node: str


@dataclass(frozen=True)
class ConditionRow:
    type: str
    status: str
    reason: str
    message: str
    since: str


@dataclass(frozen=True)
class Utilization:
    resource: str
    current: int | None
    target: int | None


@dataclass(frozen=True)
class AutoscalingInfo:
    enabled: bool
    min_replicas: int | None = None
    max_replicas: int | None = None
    current_replicas: int | None = None
    desired_replicas: int | None = None
    state: str = "-"
    utilization: tuple[Utilization, ...] = ()
    conditions: tuple[ConditionRow, ...] = ()
    last_scale_time: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    samples: int
    ok: int
    p50_seconds: float | None
    max_seconds: float | None
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    name: str
    namespace: str
    model: str
    phase: str
    ready: str
    age: str
    endpoint: str
    service_type: str | None
    service_port: int | None
    node_ports: tuple[int, ...]
    pods_ready: int
    pods_total: int
    desired_replicas: int | None
    updated_replicas: int | None
    available_replicas: int | None
    containers_ready: int
    containers_total: int
    restarts: int
    pods: tuple[PodRow, ...]
    autoscaling: AutoscalingInfo
    conditions: tuple[ConditionRow, ...]
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    probe: ProbeResult | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """An age as ``kubectl get`` shows one: precise when young, coarse when old."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    m, h, d = s // 60, s // 3600, s // 86400
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if h < 3:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d"


def age(meta: Obj | None, now: datetime) -> str:
    created = parse_time((meta or {}).get("creationTimestamp"))
    return "-" if created is None else human_duration((now - created).total_seconds())


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def counted_containers(pod: Obj) -> list[str]:
    """Names of the containers a pod runs for its whole life: regular containers and
    native sidecars (init containers with ``restartPolicy: Always``)."""
    spec = pod.get("spec") or {}
    sidecars = [
        c.get("name", "")
        for c in spec.get("initContainers") or ()
        if c.get("restartPolicy") == "Always"
    ]
    return sidecars + [c.get("name", "") for c in spec.get("containers") or ()]


def _statuses(pod: Obj) -> dict[str, Obj]:
    status = pod.get("status") or {}
    found: dict[str, Obj] = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or ():
            found[str(cs.get("name", ""))] = cs
    return found


def pod_is_ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


_QUIET_WAITING = frozenset({"ContainerCreating", "PodInitializing"})


def pod_status(pod: Obj) -> str:
    """One word for the pod, like kubectl's STATUS column: what is wrong if anything is."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    if status.get("reason"):
        return str(status["reason"])  # Evicted, NodeLost, ...
    statuses = _statuses(pod)
    for name in counted_containers(pod):
        cs = statuses.get(name) or {}
        state = cs.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        if waiting and waiting not in _QUIET_WAITING:
            return str(waiting)
        terminated = state.get("terminated") or {}
        if terminated.get("reason") and terminated.get("reason") != "Completed":
            return str(terminated["reason"])
    return str(status.get("phase") or "Unknown")


def pod_row(pod: Obj, now: datetime) -> PodRow:
    meta = pod.get("metadata") or {}
    statuses = _statuses(pod)
    names = counted_containers(pod)
    ready = sum(1 for n in names if (statuses.get(n) or {}).get("ready") is True)
    restarts = sum(_int((statuses.get(n) or {}).get("restartCount")) for n in names)
    return PodRow(
        name=str(meta.get("name", "?")),
        ready=pod_is_ready(pod),
        containers_ready=ready,
        containers_total=len(names),
        restarts=restarts,
        status=pod_status(pod),
        age=age(meta, now),
        node=str((pod.get("spec") or {}).get("nodeName") or "-"),
    )


def condition_rows(conditions: Any, now: datetime) -> tuple[ConditionRow, ...]:
    rows = []
    for cond in conditions or ():
        if not isinstance(cond, Mapping):
            continue
        since = parse_time(cond.get("lastTransitionTime"))
        rows.append(
            ConditionRow(
                type=str(cond.get("type", "?")),
                status=str(cond.get("status", "Unknown")),
                reason=str(cond.get("reason") or "-"),
                message=str(cond.get("message") or ""),
                since="-" if since is None else human_duration((now - since).total_seconds()),
            )
        )
    return tuple(rows)


def _hpa_targets(hpa: Obj) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for metric in (hpa.get("spec") or {}).get("metrics") or ():
        if metric.get("type") != "Resource":
            continue
        resource = metric.get("resource") or {}
        target = (resource.get("target") or {}).get("averageUtilization")
        out[str(resource.get("name"))] = _opt_int(target)
    return out


def hpa_state(hpa: Obj) -> str:
    """What the autoscaler is doing, from the HPA alone: the operator's words for it
    (``status.autoscaling.state``), bounded by the HPA's own maximum."""
    max_replicas = _int((hpa.get("spec") or {}).get("maxReplicas"))
    return status.hpa_state(hpa, max_replicas)


def autoscaling_info(spec: Obj, hpa: Obj | None, now: datetime) -> AutoscalingInfo:
    auto = spec.get("autoscaling") or {}
    if auto.get("enabled") is False:
        return AutoscalingInfo(enabled=False, state="Disabled")
    if hpa is None:
        return AutoscalingInfo(
            enabled=True,
            min_replicas=_opt_int(auto.get("minReplicas")),
            max_replicas=_opt_int(auto.get("maxReplicas")),
        )
    hpa_spec = hpa.get("spec") or {}
    hpa_status = hpa.get("status") or {}
    targets, current = _hpa_targets(hpa), status.utilization(hpa)
    resources = sorted(set(targets) | set(current), key=lambda r: (r != "cpu", r))
    return AutoscalingInfo(
        enabled=True,
        # minReplicas defaults to 1 in the HPA API.
        min_replicas=_opt_int(hpa_spec.get("minReplicas")) or 1,
        max_replicas=_opt_int(hpa_spec.get("maxReplicas")),
        current_replicas=_opt_int(hpa_status.get("currentReplicas")),
        desired_replicas=_opt_int(hpa_status.get("desiredReplicas")),
        state=hpa_state(hpa),
        utilization=tuple(Utilization(r, current.get(r), targets.get(r)) for r in resources),
        conditions=condition_rows(hpa_status.get("conditions"), now),
        last_scale_time=hpa_status.get("lastScaleTime"),
    )


def build_report(fetched: Fetched, now: datetime) -> Report:
    """The report's figures from the fetched objects; nothing here reads the network."""
    name, ns = fetched.name, fetched.namespace
    svc_obj = fetched.llmservice
    spec = svc_obj.get("spec") or {}
    status = svc_obj.get("status") or {}
    auto_enabled = (spec.get("autoscaling") or {}).get("enabled") is not False

    missing: list[str] = []
    if fetched.deployment is None:
        missing.append(f"Deployment {ns}/{naming.deployment_name(name)}")
    if fetched.service is None:
        missing.append(f"Service {ns}/{naming.service_name(name)}")
    if fetched.hpa is None and auto_enabled:
        missing.append(f"HorizontalPodAutoscaler {ns}/{naming.hpa_name(name)}")

    rows = tuple(pod_row(p, now) for p in sorted(fetched.pods, key=_pod_name))
    notes: list[str] = []
    if not rows:
        notes.append(f"no pods match the selector {naming.selector_string(name)}")
    # The CRD's default status is {observedGeneration: 0}: nothing the operator wrote.
    if not status.get("observedGeneration"):
        notes.append("the LLMService has no status yet: is the operator running?")

    dep_status = (fetched.deployment or {}).get("status") or {}
    desired = _opt_int(status.get("desiredReplicas"))
    if desired is None and fetched.deployment is not None:
        desired = _opt_int((fetched.deployment.get("spec") or {}).get("replicas"))

    service_spec = (fetched.service or {}).get("spec") or {}
    ports = service_spec.get("ports") or ()
    port = _opt_int(ports[0].get("port")) if ports else None
    if port is None:
        port = _opt_int((spec.get("service") or {}).get("port"))
    endpoint = status.get("endpoint") or (
        naming.endpoint(name, ns, port) if port is not None else "-"
    )
    model = (spec.get("model") or {}).get("name") or "-"
    return Report(
        name=name,
        namespace=ns,
        model=str(model),
        phase=str(status.get("phase") or "-"),
        ready=str(status.get("ready") or "-"),
        age=age(svc_obj.get("metadata"), now),
        endpoint=str(endpoint),
        service_type=service_spec.get("type"),
        service_port=port,
        node_ports=tuple(_int(p.get("nodePort")) for p in ports if _opt_int(p.get("nodePort"))),
        pods_ready=sum(1 for r in rows if r.ready),
        pods_total=len(rows),
        desired_replicas=desired,
        updated_replicas=_opt_int(dep_status.get("updatedReplicas")),
        available_replicas=_opt_int(dep_status.get("availableReplicas")),
        containers_ready=sum(r.containers_ready for r in rows),
        containers_total=sum(r.containers_total for r in rows),
        restarts=sum(r.restarts for r in rows),
        pods=rows,
        autoscaling=autoscaling_info(spec, fetched.hpa, now),
        conditions=condition_rows(status.get("conditions"), now),
        missing=tuple(missing),
        notes=tuple(notes),
    )


def _pod_name(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def summarize_probe(latencies: Sequence[float], failures: Sequence[str]) -> ProbeResult:
    """p50 and max over the successful samples; the failed ones are listed by cause."""
    return ProbeResult(
        samples=len(latencies) + len(failures),
        ok=len(latencies),
        p50_seconds=percentile(latencies, 50),
        max_seconds=max(latencies, default=None),
        failures=tuple(failures),
    )
