"""The runtime's helpers and one full reconcile pass against a recording fake API: what is
written for a new LLMService, and that a second pass writes nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import kopf
import pytest
from llmservice_operator.api import naming
from llmservice_operator.core.planner import HASH_ANNOTATION
from llmservice_operator.core.status import same_status, transitions
from llmservice_operator.runtime.cache import child_summary, newer, service_summary
from llmservice_operator.runtime.controller import Controller
from llmservice_operator.runtime.intake import owner_of
from llmservice_operator.runtime.kube import POD_MONITOR as POD_MONITOR_KIND
from llmservice_operator.runtime.kube import Kube, map_error


def test_newer_orders_by_resource_version() -> None:
    a = {"metadata": {"resourceVersion": "9"}}
    b = {"metadata": {"resourceVersion": "12"}}
    assert newer(a, b) is b
    assert newer(b, a) is b
    assert newer(a, None) is a
    assert newer(None, b) is b
    opaque = {"metadata": {"resourceVersion": "abc"}}
    assert newer(opaque, b) is opaque  # cannot order: keep the first


def test_same_status_ignores_defaults_the_crd_fills_in() -> None:
    ours = {
        "phase": "Ready",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "R", "lastTransitionTime": "t"}
        ],
    }
    stored = {
        "phase": "Ready",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "R",
                "lastTransitionTime": "t",
                "message": "",
            }
        ],
    }
    assert same_status(ours, stored)
    assert not same_status(ours, {**stored, "phase": "Degraded"})


def test_owner_of_children_and_claims() -> None:
    labelled = {"metadata": {"name": "x", "labels": {naming.SERVICE_LABEL: "chat"}}}
    assert owner_of("Deployment", labelled) == "chat"
    assert owner_of("Service", {"metadata": {"name": "chat"}}) == "chat"
    assert owner_of("PersistentVolumeClaim", {"metadata": {"name": "chat-models"}}) == "chat"
    assert owner_of("PersistentVolumeClaim", {"metadata": {"name": "data"}}) is None


def test_child_summary_keeps_identity_hash_and_status_inputs_only() -> None:
    body = {
        "kind": "Deployment",
        "metadata": {
            "name": "chat",
            "namespace": "ns",
            "uid": "u",
            "resourceVersion": "5",
            "generation": 2,
            "labels": {naming.SERVICE_LABEL: "chat", "team": "x"},
            "annotations": {HASH_ANNOTATION: "abc", "other": "y"},
            "ownerReferences": [
                {"kind": "LLMService", "name": "chat", "uid": "o", "controller": True}
            ],
            "managedFields": [{"manager": "m"}],
        },
        "spec": {"replicas": 2, "template": {"spec": {"containers": []}}},
        "status": {"readyReplicas": 2},
    }
    summary = child_summary(body)
    assert summary["metadata"]["labels"] == {naming.SERVICE_LABEL: "chat"}
    assert summary["metadata"]["annotations"] == {HASH_ANNOTATION: "abc"}
    assert summary["spec"] == {"replicas": 2}
    assert summary["status"] == {"readyReplicas": 2}
    assert "managedFields" not in summary["metadata"]


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def test_transitions_name_what_a_user_must_know() -> None:
    healthy = {
        "desiredReplicas": 2,
        "conditions": [
            cond("Ready", "True", "AllReplicasReady"),
            cond("Degraded", "False", "NoProblems"),
        ],
    }
    crashing = {
        "desiredReplicas": 2,
        "conditions": [
            cond("Ready", "False", "CrashLoopBackOff"),
            cond("Degraded", "True", "CrashLoopBackOff", "pod x"),
        ],
    }
    assert transitions(healthy, crashing) == [("Warning", "Degraded", "CrashLoopBackOff: pod x")]
    assert transitions(crashing, crashing) == []
    assert transitions(crashing, healthy) == [("Normal", "Recovered", "no longer CrashLoopBackOff")]
    scaled = {**healthy, "desiredReplicas": 4, "autoscaling": {"state": "ScalingUp"}}
    assert transitions(healthy, scaled) == [
        ("Normal", "Scaled", "desired pods 2 -> 4 (autoscaler)")
    ]
    invalid = {"conditions": [cond("Ready", "False", "InvalidSpec", "spec.x: bad")]}
    assert transitions(healthy, invalid) == [("Warning", "InvalidSpec", "spec.x: bad")]
    assert transitions(invalid, invalid) == []
    assert transitions({}, healthy) == []  # the first status is no news


def test_error_mapping() -> None:
    from kubernetes.client.exceptions import ApiException

    for status in (409, 429, 500, 503):
        assert isinstance(
            map_error(ApiException(status=status, reason="x"), "w"), kopf.TemporaryError
        )
    for status in (400, 403, 404, 422):
        assert isinstance(
            map_error(ApiException(status=status, reason="x"), "w"), kopf.PermanentError
        )
    assert isinstance(map_error(ConnectionResetError(), "w"), kopf.TemporaryError)
    message = str(map_error(ApiException(status=422, reason="Invalid"), "apply Deployment ns/x"))
    assert message.startswith("apply Deployment ns/x: HTTP 422")


# --------------------------------------------------------------------------------------
# one pass with a recording fake API


class FakeKube(Kube):
    """Records writes and answers like an API server that stores what it is sent."""

    def __init__(self) -> None:  # no client, no threads
        self.writes: list[tuple[str, str]] = []
        self.rv = 100

    def _stored(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        self.rv += 1
        meta = {
            **manifest["metadata"],
            "uid": f"uid-{manifest['kind']}",
            "resourceVersion": str(self.rv),
        }
        return {**manifest, "metadata": meta}

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        self.writes.append(("apply", str(manifest["kind"])))
        return self._stored(manifest)

    async def patch_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.writes.append(("status", str(status.get("phase"))))
        self.rv += 1
        return {
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": str(self.rv)},
            "status": dict(status),
        }

    async def post_event(
        self, involved: Mapping[str, Any], *, type_: str, reason: str, message: str, now: Any = None
    ) -> None:
        self.writes.append(("event", reason))

    async def delete(self, ck: Any, namespace: str, name: str, uid: str | None) -> bool:
        self.writes.append(("delete", str(ck.kind)))
        return True

    def close(self) -> None:
        pass


def llmservice(spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "llmservice.dev/v1alpha1",
        "kind": "LLMService",
        "metadata": {
            "name": "chat",
            "namespace": "ns",
            "uid": "svc-uid",
            "generation": 1,
            "resourceVersion": "1",
        },
        "spec": spec or {},
    }


# A spec the models reject. Cross-field rules (minReplicas <= maxReplicas) are the API
# server's to enforce at admission; a bad map key gets past a CRD without its CEL rules.
INVALID_SPEC = {"pod": {"labels": {"not a key!": "x"}}}


@pytest.fixture
def world() -> tuple[Controller, FakeKube]:
    """A controller whose watches have reported one new LLMService (and nothing else)."""
    kube = FakeKube()
    ctl = Controller(kube, debounce=0, status_interval=0)
    ctl.cache.put("LLMService", ("ns", "chat"), llmservice(), service_summary(llmservice()))
    return ctl, kube


def report_status_write(ctl: Controller, body: dict[str, Any]) -> None:
    """The watch reports the LLMService as our last status write left it."""
    rv, packed = ctl.intake._written[("ns", "chat")]
    stored = {**body, "status": json.loads(packed)}
    stored["metadata"] = {**body["metadata"], "resourceVersion": rv}
    ctl.cache.put("LLMService", ("ns", "chat"), stored, service_summary(stored))


async def test_a_new_service_gets_its_children_then_one_status(world: Any) -> None:
    ctl, kube = world
    again = await ctl.reconciler.reconcile(("ns", "chat"))
    assert kube.writes == [
        ("apply", "Deployment"),
        ("apply", "Service"),
        ("apply", "HorizontalPodAutoscaler"),
        ("apply", "PodDisruptionBudget"),
        ("event", "Created"),
    ]
    assert again is not None  # look again once the children are reported back
    kube.writes.clear()
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes == [("status", "Pending")]
    kube.writes.clear()
    # The status write came back through the watch: nothing more to do, nothing written.
    report_status_write(ctl, llmservice())
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        summary = json.loads(ctl.intake._applied[(kind, "ns", "chat")])
        ctl.cache.put(kind, ("ns", "chat"), summary, summary)
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes == []


async def test_an_invalid_spec_writes_status_and_one_event_only(world: Any) -> None:
    ctl, kube = world
    bad = llmservice(INVALID_SPEC)
    ctl.cache.put("LLMService", ("ns", "chat"), bad, service_summary(bad))
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes == [("status", "Failed"), ("event", "InvalidSpec")]
    kube.writes.clear()
    report_status_write(ctl, bad)
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes == []


class RefusingKube(FakeKube):
    """An API server that refuses Deployments for good (a 422, say a secretKeyRef without
    a key: past the CRD, not past the Deployment's validation)."""

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        if manifest["kind"] == "Deployment":
            self.writes.append(("refused", "Deployment"))
            raise kopf.PermanentError(
                "apply Deployment ns/chat: HTTP 422 Unprocessable Entity: "
                "spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.key: "
                "Required value"
            )
        return await super().apply(manifest)


async def test_a_refused_child_is_invalid_spec_once_and_not_retried_until_the_spec_changes() -> (
    None
):
    kube = RefusingKube()
    ctl = Controller(kube, debounce=0, status_interval=0)
    ctl.cache.put("LLMService", ("ns", "chat"), llmservice(), service_summary(llmservice()))
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes == [
        ("refused", "Deployment"),
        ("status", "Failed"),
        ("event", "InvalidSpec"),
    ]
    kube.writes.clear()
    report_status_write(ctl, llmservice())
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes == []  # no retry loop
    # A new generation is tried again.
    changed = llmservice({"service": {"port": 81}})
    changed["metadata"]["generation"] = 2
    ctl.cache.put("LLMService", ("ns", "chat"), changed, service_summary(changed))
    await ctl.reconciler.reconcile(("ns", "chat"))
    assert kube.writes[0] == ("refused", "Deployment")


async def test_status_writes_are_spaced(world: Any) -> None:
    ctl, kube = world
    ctl.reconciler.status_interval = 30
    await ctl.reconciler.reconcile(("ns", "chat"))  # children
    await ctl.reconciler.reconcile(("ns", "chat"))  # first status: Pending
    assert kube.writes[-1] == ("status", "Pending")
    kube.writes.clear()
    # kube-controller-manager reports the pods ready: the status changes...
    ready_deployment(ctl)
    delay = await ctl.reconciler.reconcile(("ns", "chat"))
    # ...but the last write was just now: held back, to be looked at again later.
    assert delay is not None
    assert 0 < delay <= 30
    assert kube.writes == []
    ctl.reconciler._last_write[("ns", "chat")] -= 60
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes == [("status", "Ready")]


def test_phase_gauge_follows_each_service() -> None:
    from llmservice_operator.runtime.metrics import Metrics
    from prometheus_client import generate_latest

    m = Metrics()
    m.set_phase(("ns", "a"), "Pending")
    m.set_phase(("ns", "b"), "Pending")
    m.set_phase(("ns", "a"), "Ready")
    text = generate_latest(m.registry).decode()
    assert 'llmservice_services{phase="Pending"} 1.0' in text
    assert 'llmservice_services{phase="Ready"} 1.0' in text
    m.set_phase(("ns", "b"), None)
    text = generate_latest(m.registry).decode()
    assert 'llmservice_services{phase="Pending"} 0.0' in text


def ready_deployment(ctl: Controller, rv: str = "999") -> None:
    """kube-controller-manager reports the Deployment's two pods ready."""
    dep = json.loads(ctl.intake._applied[("Deployment", "ns", "chat")])
    dep["metadata"] = {**dep["metadata"], "resourceVersion": rv, "generation": 1}
    dep["status"] = {
        "observedGeneration": 1,
        "replicas": 2,
        "readyReplicas": 2,
        "updatedReplicas": 2,
    }
    ctl.intake._applied[("Deployment", "ns", "chat")] = json.dumps(dep)


async def test_a_new_service_whose_pods_start_quickly_gets_one_status_write(world: Any) -> None:
    ctl, kube = world
    ctl.reconciler.first_status_delay = 30
    await ctl.reconciler.reconcile(("ns", "chat"))  # children
    kube.writes.clear()
    hold = await ctl.reconciler.reconcile(("ns", "chat"))
    assert hold is not None  # Pending is not written yet...
    assert 25 < hold <= 30  # ...for up to the first status delay
    assert kube.writes == []
    ready_deployment(ctl)
    # Ready, but the autoscaler has not reported yet: still worth waiting for
    assert await ctl.reconciler.reconcile(("ns", "chat")) is not None
    assert kube.writes == []
    hpa = json.loads(ctl.intake._applied[("HorizontalPodAutoscaler", "ns", "chat")])
    hpa["metadata"] = {**hpa["metadata"], "resourceVersion": "1000"}
    hpa["status"] = {"currentReplicas": 2, "desiredReplicas": 2}
    ctl.intake._applied[("HorizontalPodAutoscaler", "ns", "chat")] = json.dumps(hpa)
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes == [("status", "Ready")]


async def test_a_slow_start_is_reported_once_the_first_status_delay_is_over(world: Any) -> None:
    ctl, kube = world
    ctl.reconciler.first_status_delay = 30
    await ctl.reconciler.reconcile(("ns", "chat"))
    kube.writes.clear()
    assert await ctl.reconciler.reconcile(("ns", "chat")) is not None
    ctl.reconciler._children_created[("ns", "chat")] -= 31
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes == [("status", "Pending")]


async def test_an_invalid_spec_is_not_held_back(world: Any) -> None:
    ctl, kube = world
    ctl.reconciler.first_status_delay = 30
    bad = llmservice(INVALID_SPEC)
    ctl.cache.put("LLMService", ("ns", "chat"), bad, service_summary(bad))
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert kube.writes[0] == ("status", "Failed")


async def test_a_held_pass_wakes_up_on_news_but_an_error_backoff_does_not() -> None:
    import asyncio

    ctl = Controller(FakeKube(), debounce=0.01, status_interval=0)
    key = ("ns", "chat")
    ctl.queue._wakeups[key] = asyncio.Event()  # as a pass sets up before it starts
    held = asyncio.create_task(ctl.queue._pause(key, 30, wake_early=True))
    await asyncio.sleep(0.05)
    ctl.enqueue(key)  # an event about the LLMService
    await asyncio.wait_for(held, 5)  # well before the 30 s
    ctl.queue._wakeups[key] = asyncio.Event()
    backoff = asyncio.create_task(ctl.queue._pause(key, 30, wake_early=False))
    await asyncio.sleep(0.05)
    ctl.enqueue(key)
    await asyncio.sleep(0.1)
    assert not backoff.done()
    backoff.cancel()
    await ctl.close()


def kept(ctl: Controller) -> dict[str, int]:
    """Everything the controller's parts keep per object (their dicts and sets), where not
    empty."""
    parts = {
        "desired": ctl.desired,
        "intake": ctl.intake,
        "queue": ctl.queue,
        "reconciler": ctl.reconciler,
    }
    sizes = {
        f"{part}.{name}": len(value)
        for part, obj in parts.items()
        for name, value in vars(obj).items()
        if isinstance(value, dict | set)
    }
    return {name: size for name, size in sizes.items() if size}


def child(kind: str, uid: str, rv: str, **extra: Any) -> dict[str, Any]:
    meta = {"name": "chat", "namespace": "ns", "uid": uid, "resourceVersion": rv}
    return {"kind": kind, "metadata": meta, **extra}


async def test_a_namesakes_late_deletion_leaves_the_new_llmservice_alone(world: Any) -> None:
    ctl, _ = world
    new = {
        **llmservice(),
        "metadata": {**llmservice()["metadata"], "uid": "new", "resourceVersion": "9"},
    }
    ctl.on_event("LLMService", "ADDED", new)  # the replacement is reported first...
    ctl.desired.of(("ns", "chat"), service_summary(new))
    ctl.on_event("LLMService", "DELETED", llmservice())  # ...then the old one's deletion
    assert ("LLMService", ("ns", "chat")) in ctl.cache
    assert ("ns", "chat") in ctl.desired  # not forgotten
    assert ("ns", "chat") in ctl.queue  # its pass still pending
    await ctl.close()


async def test_a_namesakes_late_deletion_leaves_the_new_childs_state_alone(world: Any) -> None:
    ctl, _ = world
    ckey = ("Deployment", "ns", "chat")
    ctl.on_event("Deployment", "ADDED", child("Deployment", "b", "9"))
    ctl.intake._applied[ckey] = json.dumps(child("Deployment", "b", "10"))
    ctl.intake._as_desired[ckey] = "fingerprint of b"
    ctl.on_event("Deployment", "DELETED", child("Deployment", "a", "8"))
    assert ctl.cache.get("Deployment", ("ns", "chat")) is not None
    assert ckey in ctl.intake._applied
    assert ckey in ctl.intake._as_desired
    ctl.on_event("Deployment", "DELETED", child("Deployment", "b", "11"))
    assert ctl.cache.get("Deployment", ("ns", "chat")) is None
    assert ckey not in ctl.intake._applied
    assert ckey not in ctl.intake._as_desired
    await ctl.close()


async def test_a_pod_that_loses_its_label_leaves_its_llmservice(world: Any) -> None:
    ctl, _ = world
    labelled = {naming.SERVICE_LABEL: "chat"}
    pod = {"metadata": {"name": "chat-1", "namespace": "ns", "uid": "p1", "labels": labelled}}
    ctl.on_event("Pod", "ADDED", pod)
    assert [p["metadata"]["name"] for p in ctl.cache.pods(("ns", "chat"))] == ["chat-1"]
    # the label removed: the selecting watch reports it DELETED, without the label
    unlabelled = {"metadata": {**pod["metadata"], "labels": {}}}
    ctl.on_event("Pod", "DELETED", unlabelled)
    assert ctl.cache.pods(("ns", "chat")) == []
    assert ctl.intake._pod_owners == {}
    # moved to another LLMService by relabelling: it leaves the first, joins the second
    ctl.on_event("Pod", "ADDED", pod)
    moved = {"metadata": {**pod["metadata"], "labels": {naming.SERVICE_LABEL: "other"}}}
    ctl.on_event("Pod", "MODIFIED", moved)
    assert ctl.cache.pods(("ns", "chat")) == []
    assert len(ctl.cache.pods(("ns", "other"))) == 1
    await ctl.close()


async def test_drift_is_checked_again_when_a_verdict_could_not_be_made(world: Any) -> None:
    """A child carrying another hash (a spec change on its way) is not compared; that
    must not be remembered as 'as desired' once the hash is ours again."""
    ctl, _ = world
    desired = ctl.desired.of(("ns", "chat"), service_summary(llmservice()))
    live = desired.manifest("Deployment")
    assert live is not None
    live["metadata"] = {**live["metadata"], "uid": "d1", "resourceVersion": "5"}
    ckey = ("Deployment", "ns", "chat")
    ctl.intake._as_desired.clear()
    other_hash = json.loads(json.dumps(live))
    other_hash["metadata"]["annotations"][HASH_ANNOTATION] = "older"
    other_hash["spec"]["replicas"] = 9
    assert not ctl.intake._is_drifted(("ns", "chat"), ckey, other_hash)
    assert ckey not in ctl.intake._as_desired  # no verdict made, none remembered
    edited = json.loads(json.dumps(live))
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:1"
    assert ctl.intake._is_drifted(("ns", "chat"), ckey, edited)
    assert not ctl.intake._is_drifted(("ns", "chat"), ckey, live)
    assert ckey in ctl.intake._as_desired


async def test_follow_up_passes_ask_for_a_slot_before_first_passes(world: Any) -> None:
    """In a burst of new LLMServices, the status pass of one whose children exist must not
    queue behind every other's first pass."""
    import asyncio
    import contextlib
    from collections.abc import AsyncIterator

    ctl, kube = world
    asked: list[int] = []

    class RecordingSlots:
        @contextlib.asynccontextmanager
        async def hold(self, priority: int = 0) -> AsyncIterator[None]:
            asked.append(priority)
            yield

    ctl.queue.slots = RecordingSlots()
    ctl.startup.synced.set()
    ctl.enqueue(("ns", "chat"))
    await asyncio.wait_for(ctl.idle(), 5)
    assert asked[:2] == [1, 0]  # the first pass (children), then a follow-up (status)
    assert ("status", "Pending") in kube.writes
    await ctl.close()


async def test_nothing_is_kept_of_a_deleted_llmservice(world: Any) -> None:
    """A thousand LLMServices created and deleted must leave no trace in the operator."""
    import asyncio

    ctl, _ = world
    ctl.startup.synced.set()
    ctl.on_event("LLMService", "ADDED", llmservice())
    await asyncio.wait_for(ctl.idle(), 5)  # children applied, status written
    children = {k: json.loads(v) for k, v in ctl.intake._applied.items()}
    assert len(children) == 4
    for (kind, _, _), summary in children.items():
        ctl.on_event(kind, "ADDED", summary)
    pod = {
        "metadata": {
            "name": "chat-1",
            "namespace": "ns",
            "uid": "p1",
            "labels": {naming.SERVICE_LABEL: "chat"},
        }
    }
    ctl.on_event("Pod", "ADDED", pod)
    await asyncio.wait_for(ctl.idle(), 5)
    # deleted: the LLMService, then (garbage collection) its children and pods
    ctl.on_event("LLMService", "DELETED", llmservice())
    for (kind, _, _), summary in children.items():
        ctl.on_event(kind, "DELETED", summary)
    ctl.on_event("Pod", "DELETED", pod)
    await asyncio.wait_for(ctl.idle(), 5)
    assert kept(ctl) == {}
    kinds = ("LLMService", "Deployment", "Service", "HorizontalPodAutoscaler", "Pod")
    for kind in (*kinds, "PodDisruptionBudget"):
        assert ctl.cache.count(kind) == 0
    await ctl.close()


async def test_a_service_down_to_one_pod_loses_its_disruption_budget(world: Any) -> None:
    """The budget comes with 2 pods and goes with the second: deleted, as the HPA is when
    autoscaling is turned off, and only when it is ours."""
    ctl, kube = world
    fixed = {"autoscaling": {"enabled": False}, "replicas": 2}
    body = llmservice(fixed)
    ctl.cache.put("LLMService", ("ns", "chat"), body, service_summary(body))
    await ctl.reconciler.reconcile(("ns", "chat"))
    assert ("apply", "PodDisruptionBudget") in kube.writes
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        summary = json.loads(ctl.intake._applied[(kind, "ns", "chat")])
        ctl.cache.put(kind, ("ns", "chat"), summary, summary)
    kube.writes.clear()
    single = llmservice({**fixed, "replicas": 1})
    single["metadata"]["generation"] = 2
    ctl.cache.put("LLMService", ("ns", "chat"), single, service_summary(single))
    await ctl.reconciler.reconcile(("ns", "chat"))
    assert ("delete", "PodDisruptionBudget") in kube.writes
    assert ("apply", "Deployment") in kube.writes
    assert ctl.intake.child("PodDisruptionBudget", "ns", "chat") is None


class CrdRemovedKube(FakeKube):
    """Serves the PodMonitor kind until ``removed``; then an apply of one is a 404 (its
    CRD deleted after discovery said it was served)."""

    removed = False

    async def resources(self, api_version: str) -> list[str] | None:
        return None if self.removed else ["podmonitors"]

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        if manifest["kind"] == "PodMonitor" and self.removed:
            from kubernetes.client.exceptions import ApiException

            self.writes.append(("gone", "PodMonitor"))
            raise kopf.PermanentError("apply PodMonitor ns/chat: HTTP 404") from ApiException(
                status=404, reason="Not Found"
            )
        return await super().apply(manifest)


async def test_a_crd_removed_under_the_operator_is_rediscovered_not_refused() -> None:
    """The rest of the plan is applied and announced, the pass is retried (a temporary
    error, with backoff), and the next one finds the kind missing: no InvalidSpec."""
    kube = CrdRemovedKube()
    ctl = Controller(kube, debounce=0, status_interval=0)
    body = llmservice({"monitoring": {"enabled": True}})
    ctl.cache.put("LLMService", ("ns", "chat"), body, service_summary(body))
    assert await ctl.reconciler.discovery.served(POD_MONITOR_KIND)  # discovered as served
    kube.removed = True
    with pytest.raises(kopf.TemporaryError, match="PodMonitor no longer served"):
        await ctl.reconciler.reconcile(("ns", "chat"))
    assert ("gone", "PodMonitor") in kube.writes
    assert ("apply", "Deployment") in kube.writes
    assert kube.writes[-1] == ("event", "Created")
    kube.writes.clear()
    await ctl.reconciler.reconcile(("ns", "chat"))
    assert ("gone", "PodMonitor") not in kube.writes  # not tried again: known missing
    assert all(write[0] != "status" or write[1] != "Failed" for write in kube.writes)


async def test_a_404_for_a_built_in_kind_is_a_refusal_not_a_loop() -> None:
    class NoPolicyKube(FakeKube):
        async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
            if manifest["kind"] == "PodDisruptionBudget":
                from kubernetes.client.exceptions import ApiException

                raise kopf.PermanentError("apply PodDisruptionBudget: HTTP 404") from (
                    ApiException(status=404, reason="Not Found")
                )
            return await super().apply(manifest)

    kube = NoPolicyKube()
    ctl = Controller(kube, debounce=0, status_interval=0)
    ctl.cache.put("LLMService", ("ns", "chat"), llmservice(), service_summary(llmservice()))
    assert await ctl.reconciler.reconcile(("ns", "chat")) is None
    assert ("status", "Failed") in kube.writes
