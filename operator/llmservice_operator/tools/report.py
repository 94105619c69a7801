"""``llmservice-operator report NAME``: what an LLMService and its children look like now.

The seeds' "poster results" script printed 0 backend pods next to 12 containers and a
0 s health check: it counted with the wrong selectors and timed nothing. This command
reads the objects the operator manages (the LLMService, its Deployment, Service, HPA and
Pods, found by name and by the pods' selector labels) and reports them:

- pods ready/total: a pod counts as ready when its ``Ready`` condition is True;
- containers ready/total: every regular container plus every native sidecar (an init
  container with ``restartPolicy: Always``; Ollama runs that way), as ``kubectl`` counts
  them; ordinary init containers have finished by the time a pod runs and are left out;
- restarts: the sum of those containers' ``restartCount``;
- the HPA's range, current and desired replicas, and utilization against its targets;
- the LLMService's conditions with their reasons, its endpoint and its age;
- with ``--probe``, the latency of ``/healthz`` through the API server's service proxy
  (the request path a user outside the cluster would take with ``kubectl proxy``).

Fetching (:func:`fetch`) and probing talk to the API server; :func:`build_report` is a pure
function of the fetched objects and the clock, and :func:`render_text` of its result, so
every number can be tested without a cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import API_GROUP, API_VERSION, KIND, PLURAL
from llmservice_operator.tools.loadtest.stats import percentile
from llmservice_operator.tools.texttable import table

Obj = Mapping[str, Any]

DEFAULT_PROBE_SAMPLES = 5
MAX_PROBE_SAMPLES = 100
PROBE_TIMEOUT_SECONDS = 10.0
PROBE_GAP_SECONDS = 0.1
HEALTH_PATH = "healthz"
EXIT_OK, EXIT_PROBLEM = 0, 1


class ReportError(Exception):
    """Something the report cannot get past; the message is for the user, as it is."""


# --------------------------------------------------------------------------------------
# the report's data (pure)


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


def _hpa_current(hpa: Obj) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for metric in (hpa.get("status") or {}).get("currentMetrics") or ():
        if metric.get("type") != "Resource":
            continue
        resource = metric.get("resource") or {}
        current = (resource.get("current") or {}).get("averageUtilization")
        out[str(resource.get("name"))] = _opt_int(current)
    return out


def hpa_state(hpa: Obj) -> str:
    """What the autoscaler is doing, from the HPA alone (the words of the status API)."""
    spec = hpa.get("spec") or {}
    status = hpa.get("status") or {}
    current = _opt_int(status.get("currentReplicas"))
    desired = _opt_int(status.get("desiredReplicas"))
    if not desired:
        return "Stable"  # the HPA has not computed anything yet
    if current is not None and desired > current:
        return "ScalingUp"
    if current is not None and desired < current:
        return "ScalingDown"
    for cond in status.get("conditions") or ():
        if cond.get("type") == "ScalingLimited" and cond.get("status") == "True":
            if cond.get("reason") == "TooManyReplicas":
                return "AtMaximum"
            if cond.get("reason") == "TooFewReplicas":
                return "AtMinimum"
    if desired >= _int(spec.get("maxReplicas")) > 0:
        return "AtMaximum"
    return "Stable"


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
    targets, current = _hpa_targets(hpa), _hpa_current(hpa)
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
    if not status:
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


# --------------------------------------------------------------------------------------
# rendering (pure)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _opt(value: int | None, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"


def render_text(r: Report) -> str:
    lines = [f"LLMService {r.namespace}/{r.name}: model {r.model}, age {r.age}"]
    lines.append(f"  phase       {r.phase} (ready {r.ready})")
    service = ""
    if r.service_type:
        service = f" (Service {r.service_type}, port {_opt(r.service_port)}"
        if r.node_ports:
            service += ", nodePort " + ", ".join(str(p) for p in r.node_ports)
        service += ")"
    lines.append(f"  endpoint    {r.endpoint}{service}")
    lines.append(
        f"  pods        {r.pods_ready}/{r.pods_total} ready"
        f" (desired {_opt(r.desired_replicas)}, updated {_opt(r.updated_replicas)},"
        f" available {_opt(r.available_replicas)})"
    )
    lines.append(
        f"  containers  {r.containers_ready}/{r.containers_total} ready"
        " (regular containers and native sidecars)"
    )
    lines.append(f"  restarts    {r.restarts}")
    if r.pods:
        lines.append("")
        lines += table(
            ["POD", "READY", "STATUS", "RESTARTS", "AGE", "NODE"],
            [
                [
                    p.name,
                    f"{p.containers_ready}/{p.containers_total}",
                    p.status,
                    str(p.restarts),
                    p.age,
                    p.node,
                ]
                for p in r.pods
            ],
        )
    lines.append("")
    a = r.autoscaling
    if not a.enabled:
        lines.append("  autoscaling off (spec.replicas sets the pod count)")
    else:
        lines.append(
            f"  autoscaling {_opt(a.min_replicas)}..{_opt(a.max_replicas)} pods,"
            f" current {_opt(a.current_replicas)}, desired {_opt(a.desired_replicas)}"
            f" ({a.state})"
        )
        for u in a.utilization:
            lines.append(
                f"    {u.resource:<8}  {_opt(u.current, '%')} of requests"
                f" (target {_opt(u.target, '%')})"
            )
        if a.last_scale_time:
            lines.append(f"    last scaled at {a.last_scale_time}")
        for c in a.conditions:
            lines.append(f"    HPA {c.type}={c.status} {c.reason}: {c.message}".rstrip(": "))
    if r.conditions:
        lines.append("")
        lines += table(
            ["CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE"],
            [[c.type, c.status, c.reason, c.since, c.message] for c in r.conditions],
        )
    if r.probe is not None:
        p = r.probe
        lines.append("")
        lines.append(
            f"  health check through the API server's service proxy: {p.ok}/{p.samples} ok,"
            f" p50 {_ms(p.p50_seconds)}, max {_ms(p.max_seconds)}"
        )
        for failure in dict.fromkeys(p.failures):
            lines.append(f"    failed: {failure} (x{p.failures.count(failure)})")
    if r.notes or r.missing:
        lines.append("")
    for note in r.notes:
        lines.append(f"  note: {note}")
    for item in r.missing:
        lines.append(f"  missing: {item} (not found; the operator creates it)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# the API server


def _describe_api_error(exc: Any) -> str:
    detail = ""
    try:
        detail = str(json.loads(exc.body or "{}").get("message") or "")
    except (ValueError, AttributeError):
        detail = str(exc.body or "")[:200]
    return f"HTTP {exc.status} {exc.reason}" + (f": {detail}" if detail else "")


def connect(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    """(an ApiClient, the context's namespace), from a kubeconfig or in-cluster config."""
    import os

    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    namespace = "default"
    try:
        if kubeconfig and not os.path.exists(kubeconfig):
            raise ReportError(f"--kubeconfig: {kubeconfig} does not exist")
        path = kubeconfig or os.environ.get("KUBECONFIG") or None
        default_path = os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)
        if path or os.path.exists(default_path):
            # persist_config=False: a read-only command never rewrites the user's kubeconfig.
            api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, persist_config=False
            )
            contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                config_file=path
            )
            if context:
                active = next((c for c in contexts if c.get("name") == context), active)
            namespace = (active or {}).get("context", {}).get("namespace") or namespace
            return api, namespace
        configuration = client.Configuration()
        config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
        ns_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
        if os.path.exists(ns_file):
            with open(ns_file, encoding="utf-8") as f:
                namespace = f.read().strip() or namespace
        return client.ApiClient(configuration), namespace
    except ConfigException as exc:
        raise ReportError(f"no usable Kubernetes configuration: {exc}") from None
    except OSError as exc:
        raise ReportError(f"cannot read the kubeconfig: {exc}") from None


def _read(what: str, call: Callable[[], Any]) -> Any:
    """The object as a dict, None when the API server says 404; other failures explained."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    try:
        response = call()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise ReportError(f"reading {what}: {_describe_api_error(exc)}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise ReportError(f"cannot reach the Kubernetes API server: {exc}") from None
    if isinstance(response, dict):
        return response
    return json.loads(response.data or b"{}")


def fetch(api: Any, name: str, namespace: str) -> Fetched:
    """Read the LLMService and its children; ReportError when the LLMService is absent."""
    from kubernetes import client

    where = f"{namespace}/{name}"
    custom = client.CustomObjectsApi(api)
    llmservice = _read(
        f"{KIND} {where}",
        lambda: custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, PLURAL, name
        ),
    )
    if llmservice is None:
        raise ReportError(
            f"{KIND} {where} not found (`kubectl get llms -n {namespace}` lists the ones there;"
            " if that fails too, the CRD is not installed)"
        )
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    autoscaling = client.AutoscalingV2Api(api)
    deployment = _read(
        f"Deployment {where}",
        lambda: apps.read_namespaced_deployment(
            naming.deployment_name(name), namespace, _preload_content=False
        ),
    )
    service = _read(
        f"Service {where}",
        lambda: core.read_namespaced_service(
            naming.service_name(name), namespace, _preload_content=False
        ),
    )
    hpa = _read(
        f"HorizontalPodAutoscaler {where}",
        lambda: autoscaling.read_namespaced_horizontal_pod_autoscaler(
            naming.hpa_name(name), namespace, _preload_content=False
        ),
    )
    pods = _read(
        f"Pods of {where}",
        lambda: core.list_namespaced_pod(
            namespace, label_selector=naming.selector_string(name), _preload_content=False
        ),
    )
    return Fetched(
        name=name,
        namespace=namespace,
        llmservice=llmservice,
        deployment=deployment,
        service=service,
        hpa=hpa,
        pods=list((pods or {}).get("items") or ()),
    )


def service_proxy_port(service: Obj | None) -> str | None:
    """The Service port to probe, as the proxy path names it (by name when it has one)."""
    ports = ((service or {}).get("spec") or {}).get("ports") or ()
    if not ports:
        return None
    first = ports[0]
    return str(first.get("name") or first.get("port"))


def probe(
    api: Any,
    namespace: str,
    service_name: str,
    port: str,
    samples: int,
    clock: Callable[[], float] = time.perf_counter,
) -> ProbeResult:
    """GET /healthz ``samples`` times through the API server's service proxy
    (``/api/v1/namespaces/NS/services/NAME:PORT/proxy/healthz``) and time each answer."""
    import urllib3
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)
    latencies: list[float] = []
    failures: list[str] = []
    for i in range(samples):
        if i:
            time.sleep(PROBE_GAP_SECONDS)
        start = clock()
        try:
            response: Any = core.connect_get_namespaced_service_proxy_with_path(
                f"{service_name}:{port}",
                namespace,
                HEALTH_PATH,
                _preload_content=False,
                _request_timeout=PROBE_TIMEOUT_SECONDS,
            )
            response.read()
        except ApiException as exc:
            failures.append(f"HTTP {exc.status}")
            continue
        except urllib3.exceptions.HTTPError as exc:
            failures.append(f"connection error: {type(exc).__name__}")
            continue
        elapsed = clock() - start
        if response.status == 200:
            latencies.append(elapsed)
        else:
            failures.append(f"HTTP {response.status}")
    return summarize_probe(latencies, failures)


# --------------------------------------------------------------------------------------
# the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the LLMService")
    parser.add_argument(
        "-n", "--namespace", default=None, help="its namespace (default: the context's)"
    )
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: as kubectl)")
    parser.add_argument("--context", default=None, help="kubeconfig context to use")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="time /healthz through the API server's service proxy",
    )
    parser.add_argument(
        "--probe-samples",
        type=int,
        default=DEFAULT_PROBE_SAMPLES,
        help=f"health checks the probe sends (1 to {MAX_PROBE_SAMPLES})",
    )


def make_report(api: Any, name: str, namespace: str, *, with_probe: bool, samples: int) -> Report:
    fetched = fetch(api, name, namespace)
    report = build_report(fetched, datetime.now(UTC))
    if with_probe:
        port = service_proxy_port(fetched.service)
        if port is None:
            result = ProbeResult(samples, 0, None, None, ("no Service port to probe",))
        else:
            result = probe(api, namespace, naming.service_name(name), port, samples)
        report = replace(report, probe=result)
    return report


def main(args: argparse.Namespace) -> int:
    """Print the report; exit 1 when the LLMService or one of its children is missing, or
    when a probed health check failed."""
    prog = "llmservice-operator report"
    if not 1 <= args.probe_samples <= MAX_PROBE_SAMPLES:
        sys.stderr.write(
            f"{prog}: --probe-samples: must be between 1 and {MAX_PROBE_SAMPLES},"
            f" not {args.probe_samples}\n"
        )
        return 2
    try:
        api, context_namespace = connect(args.kubeconfig, args.context)
        namespace = args.namespace or context_namespace
        try:
            report = make_report(
                api, args.name, namespace, with_probe=args.probe, samples=args.probe_samples
            )
        finally:
            api.close()
    except ReportError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return EXIT_PROBLEM
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    code = EXIT_OK
    if report.missing:
        sys.stderr.write(
            f"{prog}: missing: {', '.join(report.missing)}"
            " (is the operator running and watching this namespace?)\n"
        )
        code = EXIT_PROBLEM
    if report.probe is not None and report.probe.failures:
        p = report.probe
        sys.stderr.write(f"{prog}: {len(p.failures)} of {p.samples} health checks failed\n")
        code = EXIT_PROBLEM
    return code
