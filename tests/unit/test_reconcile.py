"""The reconcile plan: what is written, and above all what is not."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders import build_children
from llmservice_operator.core import planner as reconcile
from llmservice_operator.core.planner import (
    HASH_ANNOTATION,
    Apply,
    Delete,
    LiveChild,
    conflict,
    drift,
    first_difference,
    manifest_hash,
    plan,
    with_hash,
)

UID = "uid-1"


def service(**spec: Any) -> LLMService:
    return LLMService.model_validate(
        {"metadata": {"name": "chat", "namespace": "ns", "uid": UID, "generation": 1}, "spec": spec}
    )


def desired(**spec: Any) -> list[dict[str, Any]]:
    return [with_hash(m) for m in build_children(service(**spec))]


def as_stored(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as an API server returns it: defaults and server fields added."""
    live = copy.deepcopy(manifest)
    meta = live["metadata"]
    meta.update(
        uid=f"child-{live['kind']}", resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z"
    )
    meta["managedFields"] = [{"manager": naming.FIELD_MANAGER, "operation": "Apply"}]
    spec = live["spec"]
    if live["kind"] == "Deployment":
        spec.setdefault("replicas", 1)
        pod = spec["template"]["spec"]
        pod.update(
            restartPolicy="Always", dnsPolicy="ClusterFirst", schedulerName="default-scheduler"
        )
        for c in pod["containers"] + pod["initContainers"]:
            c["terminationMessagePath"] = "/dev/termination-log"
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                if probe in c:
                    c[probe]["successThreshold"] = 1
        # The server writes quantities in canonical form.
        backend = pod["containers"][0]
        backend["resources"]["requests"]["cpu"] = "0.1"
        live["status"] = {"replicas": 2, "readyReplicas": 2}
    if live["kind"] == "Service":
        spec["clusterIP"] = "10.0.0.7"
        spec["ports"][0]["targetPort"] = spec["ports"][0].get("targetPort", "http")
        spec["sessionAffinity"] = "None"
    return live


def observed_all(manifests: list[dict[str, Any]]) -> dict[str, LiveChild]:
    return {m["kind"]: LiveChild.of(as_stored(m)) for m in manifests}


def test_nothing_exists_applies_every_child_in_order() -> None:
    want = desired()
    result = plan(want, {}, "chat", UID)
    assert [a.manifest["kind"] for a in result.actions if isinstance(a, Apply)] == [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ]
    assert all(isinstance(a, Apply) and a.why == "created" for a in result.actions)
    assert not result.conflicts


def test_children_as_desired_are_not_written() -> None:
    want = desired()
    result = plan(want, observed_all(want), "chat", UID)
    assert result.idle


def test_summaries_without_bodies_are_enough_when_hashes_match() -> None:
    want = desired()
    summaries = {
        kind: LiveChild(o.kind, o.name, o.uid, o.hash, o.controller_uid, o.controller, o.labels)
        for kind, o in observed_all(want).items()
    }
    assert plan(want, summaries, "chat", UID).idle


def test_a_spec_change_updates_only_the_changed_children() -> None:
    before = desired()
    after = desired(autoscaling={"maxReplicas": 9})
    result = plan(after, observed_all(before), "chat", UID)
    assert [(a.kind, a.why) for a in result.actions if isinstance(a, Apply)] == [
        ("HorizontalPodAutoscaler", "updated")
    ]


def test_a_model_change_updates_the_deployment() -> None:
    result = plan(desired(model={"name": "llama3.2:1b"}), observed_all(desired()), "chat", UID)
    assert [(a.kind, a.why) for a in result.actions if isinstance(a, Apply)] == [
        ("Deployment", "updated")
    ]


@pytest.mark.parametrize(
    ("kind", "edit", "where"),
    [
        ("Deployment", lambda o: o["spec"].update(replicas=5), None),  # HPA's field, not ours
        (
            "Deployment",
            lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="evil:1"),
            "spec.template.spec.containers[name=backend].image",
        ),
        (
            "Deployment",
            lambda o: o["spec"]["template"]["spec"]["containers"][0]["env"].pop(0),
            "spec.template.spec.containers[name=backend].env[name=OLLAMA_URL]",
        ),
        ("Service", lambda o: o["spec"].update(type="LoadBalancer"), "spec.type"),
        (
            "Service",
            lambda o: o["metadata"]["labels"].pop(naming.INSTANCE_LABEL),
            "metadata.labels",
        ),
        (
            "HorizontalPodAutoscaler",
            lambda o: o["spec"].update(maxReplicas=60),
            "spec.maxReplicas",
        ),
    ],
)
def test_drift_is_found_even_with_the_hash_annotation_intact(
    kind: str, edit: Any, where: str | None
) -> None:
    want = desired()
    observed = observed_all(want)
    body = copy.deepcopy(dict(observed[kind].body or {}))
    edit(body)
    observed[kind] = LiveChild.of(body)
    result = plan(want, observed, "chat", UID)
    if where is None:
        assert result.idle
        return
    (action,) = result.actions
    assert isinstance(action, Apply)
    assert (action.kind, action.why) == (kind, "restored")
    assert action.detail.startswith(where)


def test_fixed_replicas_are_ours_and_restored() -> None:
    want = desired(autoscaling={"enabled": False}, replicas=3)
    observed = observed_all(want)
    body = copy.deepcopy(dict(observed["Deployment"].body or {}))
    body["spec"]["replicas"] = 7
    observed["Deployment"] = LiveChild.of(body)
    (action,) = plan(want, observed, "chat", UID).actions
    assert isinstance(action, Apply)
    assert action.detail == "spec.replicas"


def test_autoscaling_off_deletes_our_hpa_and_keeps_a_foreign_one() -> None:
    before = desired()
    after = desired(autoscaling={"enabled": False})
    observed = observed_all(before)
    hpa = observed.pop("HorizontalPodAutoscaler")
    result = plan(after, observed, "chat", UID, unwanted=[hpa])
    assert [type(a).__name__ for a in result.actions] == ["Apply", "Delete"]
    delete = result.actions[1]
    assert isinstance(delete, Delete)
    assert (delete.kind, delete.name, delete.uid) == ("HorizontalPodAutoscaler", "chat", hpa.uid)
    foreign = LiveChild("HorizontalPodAutoscaler", "chat", "x", None, controller_uid=None)
    result = plan(after, observed, "chat", UID, unwanted=[foreign])
    assert not any(isinstance(a, Delete) for a in result.actions)


def test_name_conflict_writes_nothing() -> None:
    want = desired()
    foreign = {
        "kind": "Deployment",
        "metadata": {
            "name": "chat",
            "namespace": "ns",
            "uid": "other",
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": "x", "uid": "rs", "controller": True}
            ],
        },
        "spec": {},
    }
    result = plan(want, {"Deployment": LiveChild.of(foreign)}, "chat", UID)
    assert result.actions == []
    (message,) = result.conflicts
    assert "Deployment ns/chat" in message
    assert "ReplicaSet x" in message


def test_an_unlabelled_object_without_owner_is_a_conflict() -> None:
    plain = {"kind": "Service", "metadata": {"name": "chat", "namespace": "ns"}}
    assert conflict(plain, "chat", UID) is not None


def test_our_orphan_is_adopted() -> None:
    want = desired()
    orphan = as_stored(want[0])
    orphan["metadata"].pop("ownerReferences")
    result = plan(want[:1], {"Deployment": LiveChild.of(orphan)}, "chat", UID)
    (action,) = result.actions
    assert isinstance(action, Apply)
    assert action.why == "adopted"


def test_a_namesake_of_a_deleted_service_is_waited_for() -> None:
    want = desired()
    old = as_stored(want[0])
    old["metadata"]["ownerReferences"][0]["uid"] = "old-uid"
    result = plan(want[:1], {"Deployment": LiveChild.of(old)}, "chat", UID)
    assert result.actions == []
    assert "deleted LLMService" in result.conflicts[0]


def test_hash_is_stable_and_ignores_its_own_annotation() -> None:
    manifest = build_children(service())[0]
    hashed = with_hash(manifest)
    assert manifest_hash(hashed) == manifest_hash(manifest)
    assert hashed["metadata"]["annotations"][HASH_ANNOTATION] == manifest_hash(manifest)
    assert manifest_hash(build_children(service(replicas=3))[0]) == manifest_hash(manifest)
    other = build_children(service(autoscaling={"enabled": False}, replicas=3))[0]
    assert manifest_hash(other) != manifest_hash(manifest)


def test_quantities_compare_by_value() -> None:
    want = {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
    assert (
        first_difference(want, {"resources": {"requests": {"cpu": "1000m", "memory": "1024Mi"}}})
        is None
    )
    assert first_difference(want, {"resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}) == (
        "resources.requests.cpu"
    )


def test_lists_by_key_ignore_order_and_foreign_items() -> None:
    want = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    live = {
        "env": [
            {"name": "C", "value": "x"},
            {"name": "B", "value": "2"},
            {"name": "A", "value": "1"},
        ]
    }
    assert first_difference(want, live) is None
    live["env"][1]["value"] = "3"
    assert first_difference(want, live) == "env[name=B].value"


def test_plain_lists_must_match_exactly() -> None:
    assert first_difference({"args": ["serve"]}, {"args": ["serve", "--x"]}) == "args"
    assert first_difference({"args": ["serve"]}, {"args": ["serve"]}) is None


def test_booleans_are_not_numbers() -> None:
    assert first_difference({"x": True}, {"x": 1}) == "x"
    assert first_difference({"x": 0}, {"x": False}) == "x"


def test_owner_reference_removed_is_drift() -> None:
    want = desired()[1]
    live = as_stored(want)
    live["metadata"]["ownerReferences"] = []
    assert drift(want, live) == "metadata.ownerReferences"


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values, json_values)
def test_an_object_always_contains_itself_and_its_supersets(value: Any, extra: Any) -> None:
    assert first_difference(value, copy.deepcopy(value)) is None
    if isinstance(value, dict):
        superset = {
            **{f"zz{k}": v for k, v in (extra if isinstance(extra, dict) else {}).items()},
            **value,
        }
        assert first_difference(value, superset) is None


def _deployment_with_managers(*entries: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "chat",
            "namespace": "ns",
            "managedFields": [
                {"manager": m, "operation": op, "fieldsV1": {"f:spec": spec}}
                for m, op, spec in entries
            ],
        },
        "spec": {"replicas": 4},
    }


def test_applies_replicas_only_for_our_apply_of_the_field() -> None:
    ours = _deployment_with_managers(("llmservice-operator", "Apply", {"f:replicas": {}}))
    assert reconcile.applies_replicas(ours)
    hpa_took_it = _deployment_with_managers(
        ("llmservice-operator", "Apply", {"f:template": {}}),
        ("kube-controller-manager", "Update", {"f:replicas": {}}),
    )
    assert not reconcile.applies_replicas(hpa_took_it)
    assert not reconcile.applies_replicas({"metadata": {}})


def test_replicas_handover_only_when_autoscaling_drops_a_count_we_own() -> None:
    desired = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "chat", "namespace": "ns", "labels": {"a": "b"}},
        "spec": {"template": {}},
    }
    live = {"spec": {"replicas": 4}, "appliesReplicas": True}
    assert reconcile.replicas_handover(desired, live) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "chat", "namespace": "ns"},
        "spec": {"replicas": 4},
    }
    # Nothing to hand over: a new Deployment, one whose count the HPA already owns, or a
    # desired Deployment that sets replicas itself (autoscaling off).
    assert reconcile.replicas_handover(desired, None) is None
    assert reconcile.replicas_handover(desired, {"spec": {"replicas": 4}}) is None
    with_count = {**desired, "spec": {"replicas": 3, "template": {}}}
    assert reconcile.replicas_handover(with_count, live) is None
