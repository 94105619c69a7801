"""Convergence under faults: many LLMServices created, edited and deleted while the
operator's requests fail, its watches are cut and its process is killed; then a check that
the namespace holds exactly what the LLMServices ask for, and that the operator, once
everything has converged, writes nothing more.

The run is the same on the test kit's emulator and on a real control plane: the faults come
from a :class:`~llmservice_testkit.faultproxy.FaultProxy` the operator alone talks through,
and the world moves on by whatever runs there (kube-controller-manager and the simulated
kubelets, or the emulator's played controllers through ``tick``). The test and the
benchmark (benchmarks/convergence_faults.py) differ only in the number of LLMServices.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import API_GROUP, API_VERSION

from llmservice_testkit.faultproxy import FaultProxy

GROUP, VERSION, PLURAL = API_GROUP, API_VERSION, "llmservices"
# (path under the namespace, kind, name of the child from the LLMService's name)
CHILDREN: tuple[tuple[str, str, Callable[[str], str]], ...] = (
    ("/apis/apps/v1/namespaces/{ns}/deployments", "Deployment", naming.deployment_name),
    ("/api/v1/namespaces/{ns}/services", "Service", naming.service_name),
    (
        "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        naming.hpa_name,
    ),
    (
        "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
        "PodDisruptionBudget",
        naming.pdb_name,
    ),
)
MANAGED = f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY}"
Spec = dict[str, Any]


# Pods that ask for little, so that a few simulated nodes hold a few hundred of them.
SMALL = {
    "ollama": {
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}}
    },
    "backend": {
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
    },
}


def planned_services(count: int) -> dict[str, Spec]:
    """``count`` small LLMServices: one in three with a fixed pod count, the others
    autoscaled between one and two pods."""
    out: dict[str, Spec] = {}
    for i in range(count):
        if i % 3 == 0:
            scaling: Spec = {"replicas": 1 + i % 2, "autoscaling": {"enabled": False}}
        else:
            scaling = {"autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 2}}
        out[f"c-{i:03d}"] = {**SMALL, **scaling}
    return out


def planned_changes(specs: Mapping[str, Spec]) -> tuple[dict[str, Spec], list[str]]:
    """What is changed while the faults go on: every fifth LLMService edited (a fixed count
    changed, or autoscaling turned off, which removes its HPA), every seventh deleted."""
    edits: dict[str, Spec] = {}
    deleted: list[str] = []
    for i, (name, spec) in enumerate(sorted(specs.items())):
        if i % 7 == 3:
            deleted.append(name)
        elif i % 5 == 1:
            replicas = 1 if spec["autoscaling"]["enabled"] else 3 - spec["replicas"]
            edits[name] = {**spec, "replicas": replicas, "autoscaling": {"enabled": False}}
    return edits, deleted


class Api:
    """The few raw calls the run makes, with the test's own client (never through the
    proxy: the faults are the operator's alone)."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        self.client = api_client
        self.namespace = namespace

    def call(self, method: str, path: str, body: Any = None, content_type: str = "") -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        params = self.client.param_serialize(
            method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response = self.client.call_api(*params)
        data = response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else {}

    def llms_path(self, name: str = "") -> str:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}"
        return f"{base}/{name}" if name else base

    def create(self, name: str, spec: Spec) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "LLMService",
            "metadata": {"name": name},
            "spec": spec,
        }
        self.call("POST", self.llms_path(), body)

    def replace_spec(self, name: str, spec: Spec) -> None:
        self.call("PATCH", self.llms_path(name), {"spec": spec}, "application/merge-patch+json")

    def delete(self, name: str) -> None:
        self.call("DELETE", self.llms_path(name))

    def items(self, path: str, selector: str = "") -> list[dict[str, Any]]:
        query = f"?labelSelector={selector}" if selector else ""
        return list(self.call("GET", path.format(ns=self.namespace) + query)["items"])


def problems(api: Api, expected: Mapping[str, Spec], require_ready: bool = True) -> list[str]:
    """Everything that differs from convergence; empty once converged: exactly the
    LLMServices expected, each with a current status (Ready where ``require_ready``) and
    exactly its children, owned by it; no child without a live owner."""
    found: list[str] = []
    services = {s["metadata"]["name"]: s for s in api.items(api.llms_path())}
    if set(services) != set(expected):
        missing, extra = set(expected) - set(services), set(services) - set(expected)
        found.append(f"LLMServices: missing {sorted(missing)}, not deleted {sorted(extra)}")
    uids = {s["metadata"]["uid"]: name for name, s in services.items()}
    for name, svc in sorted(services.items()):
        status = svc.get("status") or {}
        if status.get("observedGeneration") != svc["metadata"].get("generation"):
            found.append(
                f"{name}: status for generation {status.get('observedGeneration')}, "
                f"spec at {svc['metadata'].get('generation')}"
            )
        elif require_ready and status.get("phase") != "Ready":
            found.append(f"{name}: phase {status.get('phase')}")
    for path, kind, child_name in CHILDREN:
        by_owner: Counter[str] = Counter()
        for child in api.items(path, MANAGED):
            meta = child["metadata"]
            owners = [o for o in meta.get("ownerReferences") or () if o.get("controller")]
            owner = uids.get(owners[0]["uid"]) if len(owners) == 1 else None
            if owner is None:
                found.append(f"{kind} {meta['name']}: no live LLMService owns it")
                continue
            if meta["name"] != child_name(owner):
                found.append(f"{kind} {meta['name']}: owned by {owner} under another name")
            by_owner[owner] += 1
            if kind == "HorizontalPodAutoscaler" and not (child.get("status") or {}).get(
                "conditions"
            ):
                # Its controller's first report is news for the LLMService's status: not
                # converged before it has come (and been written).
                found.append(f"{owner}: its HorizontalPodAutoscaler has not reported yet")
            if kind == "Deployment":
                found.extend(_deployment_problems(owner, child, expected.get(owner)))
        for name, spec in sorted(expected.items()):
            wanted = _wanted(kind, spec)
            if by_owner[name] != wanted:
                found.append(f"{name}: {by_owner[name]} {kind}(s), {wanted} wanted")
    return found


def _wanted(kind: str, spec: Spec) -> int:
    """How many children of ``kind`` the spec asks for: an HPA only with autoscaling on, a
    disruption budget only for a service that can run two pods or more."""
    if kind == "HorizontalPodAutoscaler":
        return int(_autoscaled(spec))
    if kind == "PodDisruptionBudget":
        most = spec["autoscaling"]["maxReplicas"] if _autoscaled(spec) else spec["replicas"]
        return int(most >= 2)
    return 1


def _autoscaled(spec: Spec) -> bool:
    return bool((spec.get("autoscaling") or {}).get("enabled", True))


def _deployment_problems(owner: str, deployment: Mapping[str, Any], spec: Spec | None) -> list[str]:
    if spec is None or _autoscaled(spec):
        return []  # the HPA owns the count
    replicas = deployment["spec"].get("replicas")
    if replicas != spec["replicas"]:
        return [f"{owner}: Deployment at {replicas} pods, {spec['replicas']} wanted"]
    return []


@dataclass
class Outcome:
    """What one run found; ``converged_seconds`` is None when it never converged."""

    services: int
    converged_seconds: float | None
    remaining: list[str]
    kills: int
    faults: Counter[str]
    idle_writes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        took = (
            f"converged in {self.converged_seconds:.1f} s"
            if self.converged_seconds is not None
            else f"did NOT converge ({len(self.remaining)} problems)"
        )
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        return (
            f"{self.services} LLMServices {took}; operator killed {self.kills} times; "
            f"faults: {faults}; writes while idle afterwards: {len(self.idle_writes)}"
        )


def run(
    api: Api,
    proxy: FaultProxy,
    count: int,
    kill_operator: Callable[[], None],
    *,
    kills_at: tuple[float, ...] = (4.0, 12.0, 24.0),
    changes_at: float = 8.0,
    timeout: float = 600.0,
    idle_seconds: float = 10.0,
    tick: Callable[[], None] | None = None,
    require_ready: bool = True,
) -> Outcome:
    """Create ``count`` LLMServices, kill the operator at ``kills_at`` seconds (it is started
    again by ``kill_operator``), edit and delete some at ``changes_at``, and wait until the
    namespace has converged; then end the faults and count the writes of an idle period."""
    specs = planned_services(count)
    edits, deleted = planned_changes(specs)
    expected = dict(specs)
    started = time.monotonic()
    for name, spec in specs.items():
        api.create(name, spec)
    pending_kills = list(kills_at)
    changed = False
    converged: float | None = None
    remaining: list[str] = []
    last_check = 0.0
    while time.monotonic() - started < timeout:
        now = time.monotonic() - started
        if tick is not None:
            tick()
        if pending_kills and now >= pending_kills[0]:
            pending_kills.pop(0)
            kill_operator()
        if not changed and now >= changes_at:
            changed = True
            for name, spec in edits.items():
                api.replace_spec(name, spec)
                expected[name] = spec
            for name in deleted:
                api.delete(name)
                expected.pop(name)
        if changed and not pending_kills and time.monotonic() - last_check >= 1.0:
            last_check = time.monotonic()
            remaining = problems(api, expected, require_ready)
            if not remaining:
                converged = time.monotonic() - started
                break
        time.sleep(0.25)
    outcome = Outcome(
        count, converged, remaining, len(kills_at) - len(pending_kills), proxy.faults()
    )
    if converged is None:
        return outcome
    proxy.calm()
    settle = time.monotonic() + 2.0
    while time.monotonic() < settle:
        if tick is not None:
            tick()
        time.sleep(0.25)
    mark = proxy.mark()
    quiet = time.monotonic() + idle_seconds
    while time.monotonic() < quiet:
        if tick is not None:
            tick()
        time.sleep(0.25)
    outcome.idle_writes = proxy.writes(mark)
    outcome.remaining = problems(api, expected, require_ready)
    return outcome
