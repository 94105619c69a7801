"""Scaling on in-flight requests with the real HPA controller, and disruptions, on the real
control plane: the operator runs as in a cluster (its ServiceAccount, deploy/'s RBAC), the
pods come from the simulated node agent, and the per-pod values come from the test metrics
API (``metrics_cluster``, tests/cluster/conftest.py), served to kube-apiserver through an
aggregated APIService.

Each pod's in-flight count is set the way load spreads: the pod that carried the load gets
its value by name, a new pod starts at the label-wide value (none in flight yet), so the
HPA's average falls as pods come up, as it would behind the Service.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from llmservice_testkit.cluster.session import RealSession, wait_for
from llmservice_testkit.metricsapi import IN_FLIGHT
from realcluster import Cluster, Operator, Real, apply, llms, service_doc

pytestmark = [pytest.mark.slow, pytest.mark.kubectl]

WAIT = 120.0  # the HPA syncs every 5 s; two shared cores
SCALE_DOWN_WINDOW = 20  # test-shortened (the default is 300 s)
INSTANCE = "app.kubernetes.io/instance"


class StateRecorder:
    """Every status.autoscaling the API server stored for one LLMService, in order, from a
    watch: states the operator held for a second are seen as surely as lasting ones."""

    def __init__(self, real: RealSession, namespace: str, name: str) -> None:
        self.api = real.api_client()
        self.namespace, self.name = namespace, name
        self.seen: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        custom = client.CustomObjectsApi(self.api)
        while not self._stop.is_set():
            stream = watch.Watch().stream(
                custom.list_namespaced_custom_object,
                "llmservice.dev",
                "v1alpha1",
                self.namespace,
                "llmservices",
                field_selector=f"metadata.name={self.name}",
                timeout_seconds=5,
            )
            for event in stream:
                auto = (event["object"].get("status") or {}).get("autoscaling") or {}
                conditions = (event["object"].get("status") or {}).get("conditions") or []
                limited = next((c for c in conditions if c["type"] == "ScalingLimited"), {})
                entry = {**auto, "limited": limited.get("reason")}
                if auto and (not self.seen or self.seen[-1] != entry):
                    self.seen.append(entry)
                if self._stop.is_set():
                    break

    def states(self) -> list[str]:
        out: list[str] = []
        for entry in list(self.seen):
            if not out or out[-1] != entry.get("state"):
                out.append(str(entry.get("state")))
        return out

    def __enter__(self) -> StateRecorder:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.api.close()


def is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


def deployment(real: Real, namespace: str, name: str) -> dict[str, Any]:
    out = real.kubectl("get", "deployment", name, "-n", namespace, "-o", "json").stdout
    return dict(json.loads(out))


def ready_pods(real: Real, namespace: str, name: str) -> list[str]:
    out = real.kubectl("get", "pods", "-n", namespace, "-l", f"{INSTANCE}={name}", "-o", "json")
    return sorted(
        p["metadata"]["name"]
        for p in json.loads(out.stdout)["items"]
        if not p["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions") or ()
        )
    )


def autoscaling(real: Real, namespace: str, name: str) -> dict[str, Any]:
    return dict((llms(real, namespace, name).get("status") or {}).get("autoscaling") or {})


def in_flight_reported(real: Real, namespace: str, name: str) -> str | None:
    for metric in autoscaling(real, namespace, name).get("metrics") or ():
        if metric["type"] == "InFlightRequests":
            return metric.get("currentAverageValue")
    return None


@pytest.fixture
def recorder(metrics_cluster: Any, metrics_namespace: str) -> Iterator[StateRecorder]:
    with StateRecorder(metrics_cluster.real, metrics_namespace, "chat") as rec:
        yield rec


def test_in_flight_requests_scale_the_service_up_to_its_maximum_and_down_again(
    metrics_cluster: Any,
    metrics_namespace: str,
    metrics_operator: Operator,
    recorder: StateRecorder,
) -> None:
    real, metrics, ns = metrics_cluster.real, metrics_cluster.metrics, metrics_namespace
    chat = {INSTANCE: "chat"}
    metrics.set(ns, IN_FLIGHT, 0, labels=chat)  # a pod with nothing in flight
    autoscaling_spec = {
        "minReplicas": 1,
        "maxReplicas": 3,
        "metrics": [{"type": "InFlightRequests", "targetAverageValue": 2}],
        "behavior": {
            "scaleUp": {"policies": [{"type": "Pods", "value": 3, "periodSeconds": 1}]},
            "scaleDown": {
                "stabilizationWindowSeconds": SCALE_DOWN_WINDOW,
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 1}],
            },
        },
    }
    apply(real, ns, service_doc("chat", autoscaling=autoscaling_spec))
    (first,) = wait_for(lambda: ready_pods(real, ns, "chat"), "the first pod Ready", WAIT)
    wait_for(
        lambda: autoscaling(real, ns, "chat").get("state") == "AtMinimum",
        "AtMinimum: nothing in flight, one pod",
        WAIT,
    )

    # A load step: 4 requests in flight on the only pod, twice the target: 2 pods wanted.
    metrics.set(ns, IN_FLIGHT, 4, pod=first)
    wait_for(lambda: len(ready_pods(real, ns, "chat")) == 2, "a second pod Ready", WAIT)
    # The load spreads: 2 and 2 rather than 4 and 0 -- on target, so the count holds.
    metrics.set(ns, IN_FLIGHT, 2, labels=chat)
    metrics.unset(ns, IN_FLIGHT, pod=first)
    wait_for(
        lambda: (
            (a := autoscaling(real, ns, "chat")).get("state") == "Stable"
            and a.get("currentReplicas") == 2
            and in_flight_reported(real, ns, "chat") == "2"
        ),
        "Stable at 2 pods, 2 in flight each",
        WAIT,
    )

    # More than 3 pods can carry: held at maxReplicas, and the status says so.
    metrics.set(ns, IN_FLIGHT, 6, labels=chat)
    wait_for(lambda: len(ready_pods(real, ns, "chat")) == 3, "a third pod Ready", WAIT)
    held = wait_for(
        lambda: (
            (a := autoscaling(real, ns, "chat")).get("state") == "AtMaximum"
            and a.get("currentReplicas") == 3
            and a
        ),
        "AtMaximum at 3 pods",
        WAIT,
    )
    assert held["metrics"] == [
        {"type": "InFlightRequests", "currentAverageValue": "6", "targetAverageValue": "2"}
    ]
    limited = next(
        c for c in llms(real, ns, "chat")["status"]["conditions"] if c["type"] == "ScalingLimited"
    )
    assert (limited["status"], limited["reason"]) == ("True", "MaxReplicasReached")

    # The load goes: the pods are kept through the stabilization window, then removed.
    metrics.set(ns, IN_FLIGHT, "500m", labels=chat)
    lowered = time.monotonic()
    wait_for(lambda: in_flight_reported(real, ns, "chat") == "0.5", "the lower value read", WAIT)
    # The HPA's last high recommendation came at most one sync (5 s) before the values
    # fell, so nothing may go before the window minus that sync.
    quiet_until = lowered + SCALE_DOWN_WINDOW - 6
    while time.monotonic() < quiet_until:
        assert deployment(real, ns, "chat")["spec"]["replicas"] == 3, "scaled down too early"
        time.sleep(1)
    wait_for(
        lambda: (
            deployment(real, ns, "chat")["spec"]["replicas"] == 1
            and len(ready_pods(real, ns, "chat")) == 1
        ),
        "the scale-down to 1 pod after the window",
        WAIT,
    )
    wait_for(
        lambda: autoscaling(real, ns, "chat").get("state") == "AtMinimum",
        "AtMinimum again",
        WAIT,
    )
    states = recorder.states()
    wanted = ["AtMinimum", "ScalingUp", "Stable", "AtMaximum", "ScalingDown", "AtMinimum"]
    assert is_subsequence(wanted, states), states
    at_max = [e for e in recorder.seen if e.get("state") == "AtMaximum"]
    assert all(e["limited"] == "MaxReplicasReached" for e in at_max), at_max


# --------------------------------------------------------------------------------------
# disruptions, on the session's control plane (no metrics API needed)


def test_a_drain_takes_one_pod_of_the_service_at_a_time(
    real: Real, namespace: str, cluster: Cluster, operator: Operator
) -> None:
    """The eviction API, as ``kubectl drain`` uses it, honours the operator's budget: of
    three Ready pods one may go, the next is refused until a replacement is Ready."""
    apply(real, namespace, service_doc("drain", replicas=3, autoscaling={"enabled": False}))
    pods = wait_for(
        lambda: (p := ready_pods(real, namespace, "drain")) and len(p) == 3 and p,
        "3 pods Ready",
        WAIT,
    )
    core = client.CoreV1Api(cluster.api_client)

    def budget_allows() -> int:
        pdb = cluster.pdb("drain") or {}
        return int((pdb.get("status") or {}).get("disruptionsAllowed") or 0)

    wait_for(lambda: budget_allows() == 1, "the disruption controller to allow 1", WAIT)

    def evict(pod: str) -> int:
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod}}
        try:
            core.create_namespaced_pod_eviction(pod, namespace, body)
        except client.ApiException as exc:
            return int(exc.status)
        return 201

    assert evict(pods[0]) == 201
    assert evict(pods[1]) == 429  # the budget is spent until a replacement is Ready
    wait_for(lambda: len(ready_pods(real, namespace, "drain")) == 3, "a replacement", WAIT)
    wait_for(lambda: budget_allows() == 1, "the budget to allow 1 again", WAIT)
    assert evict(pods[1]) == 201


def test_the_pods_spread_over_the_nodes_by_default(
    real: Real, namespace: str, operator: Operator
) -> None:
    apply(real, namespace, service_doc("spread", replicas=2, autoscaling={"enabled": False}))
    wait_for(lambda: len(ready_pods(real, namespace, "spread")) == 2, "2 pods Ready", WAIT)
    out = real.kubectl(
        "get", "pods", "-n", namespace, "-l", f"{INSTANCE}=spread", "-o", "json"
    ).stdout
    nodes = {p["spec"]["nodeName"] for p in json.loads(out)["items"]}
    assert len(nodes) == 2, nodes
