"""The garbage collector's indexes: collection through owner uid -> dependents, not a scan.

The collector only looks at what a write can affect; these tests pin that the behaviour is
unchanged (dependents of every kind collected, never-existing owners, foreground, orphan,
namespaces) and that the work per write does not grow with the number of stored objects
(``ApiServer.gc_visits`` counts the objects the collector looks at).
"""

from __future__ import annotations

import uuid
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from llmservice_testkit.emulator.server import ApiServer
from llmservice_testkit.emulator.store import Store
from llmservice_testkit.emulator.thread import ServerThread
from llmservice_testkit.pytest_plugin import api_client_for


def _ref(kind: str, name: str, uid: str) -> client.V1OwnerReference:
    return client.V1OwnerReference(api_version="v1", kind=kind, name=name, uid=uid)


def _config_map(
    core: client.CoreV1Api, ns: str, name: str, *refs: client.V1OwnerReference
) -> client.V1ConfigMap:
    meta = client.V1ObjectMeta(name=name, owner_references=list(refs) or None)
    return core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta))


def _secret(core: client.CoreV1Api, ns: str, name: str, *refs: client.V1OwnerReference) -> Any:
    meta = client.V1ObjectMeta(name=name, owner_references=list(refs) or None)
    return core.create_namespaced_secret(ns, client.V1Secret(metadata=meta))


def _gone(read: Any, *args: str) -> bool:
    try:
        read(*args)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def test_dependents_of_another_kind_made_before_the_delete_are_collected(
    k8s_api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    owner = _config_map(core, namespace, "owner")
    ref = _ref("ConfigMap", "owner", owner.metadata.uid)
    _secret(core, namespace, "secret-child", ref)
    child = _config_map(core, namespace, "cm-child", ref)
    _secret(core, namespace, "grandchild", _ref("ConfigMap", "cm-child", child.metadata.uid))
    _config_map(core, namespace, "bystander")
    core.delete_namespaced_config_map("owner", namespace)
    assert _gone(core.read_namespaced_secret, "secret-child", namespace)
    assert _gone(core.read_namespaced_config_map, "cm-child", namespace)
    assert _gone(core.read_namespaced_secret, "grandchild", namespace)
    assert not _gone(core.read_namespaced_config_map, "bystander", namespace)


def test_dependent_of_an_owner_that_never_existed_is_collected(
    k8s_api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    _config_map(core, namespace, "stray", _ref("ConfigMap", "ghost", str(uuid.uuid4())))
    assert _gone(core.read_namespaced_config_map, "stray", namespace)


def test_one_live_owner_keeps_a_dependent_with_a_missing_one(
    k8s_api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    live = _config_map(core, namespace, "live")
    _config_map(
        core,
        namespace,
        "half",
        _ref("ConfigMap", "ghost", str(uuid.uuid4())),
        _ref("ConfigMap", "live", live.metadata.uid),
    )
    assert not _gone(core.read_namespaced_config_map, "half", namespace)


def test_an_update_pointing_at_a_missing_owner_is_collected(
    k8s_api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    _config_map(core, namespace, "plain")
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": str(uuid.uuid4())}
    core.patch_namespaced_config_map("plain", namespace, {"metadata": {"ownerReferences": [ghost]}})
    assert _gone(core.read_namespaced_config_map, "plain", namespace)


def test_a_dropped_owner_reference_leaves_the_index(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    owner = _config_map(core, namespace, "owner")
    _config_map(core, namespace, "freed", _ref("ConfigMap", "owner", owner.metadata.uid))
    core.patch_namespaced_config_map("freed", namespace, {"metadata": {"ownerReferences": None}})
    core.delete_namespaced_config_map("owner", namespace)
    assert not _gone(core.read_namespaced_config_map, "freed", namespace)


def test_foreground_deletion_goes_down_the_chain(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    top = _config_map(core, namespace, "top")
    mid = _secret(core, namespace, "mid", _ref("ConfigMap", "top", top.metadata.uid))
    meta = client.V1ObjectMeta(
        name="leaf",
        owner_references=[_ref("Secret", "mid", mid.metadata.uid)],
        finalizers=["example.com/hold"],
    )
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=meta))
    core.delete_namespaced_config_map("top", namespace, propagation_policy="Foreground")
    leaf = core.read_namespaced_config_map("leaf", namespace)
    assert leaf.metadata.deletion_timestamp is not None
    assert core.read_namespaced_secret("mid", namespace).metadata.deletion_timestamp is not None
    assert (
        "foregroundDeletion"
        in core.read_namespaced_config_map("top", namespace).metadata.finalizers
    )
    core.patch_namespaced_config_map("leaf", namespace, {"metadata": {"finalizers": None}})
    assert _gone(core.read_namespaced_config_map, "leaf", namespace)
    assert _gone(core.read_namespaced_secret, "mid", namespace)
    assert _gone(core.read_namespaced_config_map, "top", namespace)


def test_orphan_deletion_frees_dependents_of_every_kind(
    k8s_api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    owner = _config_map(core, namespace, "owner")
    ref = _ref("ConfigMap", "owner", owner.metadata.uid)
    _secret(core, namespace, "kept-secret", ref)
    _config_map(core, namespace, "kept-cm", ref)
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Orphan")
    assert _gone(core.read_namespaced_config_map, "owner", namespace)
    assert not core.read_namespaced_secret("kept-secret", namespace).metadata.owner_references
    assert not core.read_namespaced_config_map("kept-cm", namespace).metadata.owner_references


def test_namespace_deletion_empties_it_and_spares_the_others(k8s_api_client: Any) -> None:
    core = client.CoreV1Api(k8s_api_client)
    doomed, spared = f"d-{uuid.uuid4().hex[:6]}", f"s-{uuid.uuid4().hex[:6]}"
    for ns in (doomed, spared):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        owner = _config_map(core, ns, "owner")
        _secret(core, ns, "child", _ref("ConfigMap", "owner", owner.metadata.uid))
    core.delete_namespace(doomed)
    assert _gone(core.read_namespace, doomed)
    assert _gone(core.read_namespaced_secret, "child", doomed)
    assert not _gone(core.read_namespaced_secret, "child", spared)
    assert not _gone(core.read_namespaced_config_map, "owner", spared)


def _fill(api: ApiServer, namespace: str, pairs: int) -> None:
    """``pairs`` owners with one dependent each, written in-process (no HTTP)."""
    rt = api.registry.get("", "v1", "configmaps")
    for i in range(pairs):
        owner = api.create_object(rt, namespace, {"metadata": {"name": f"o-{i}"}})
        ref: dict[str, str] = {"apiVersion": "v1", "kind": "ConfigMap", "name": f"o-{i}"}
        ref["uid"] = owner["metadata"]["uid"]
        api.create_object(rt, namespace, {"metadata": {"name": f"d-{i}", "ownerReferences": [ref]}})


def _visits_for_a_round_of_writes(server: ServerThread, stored_pairs: int) -> int:
    """How many objects the collector looks at for a fixed round of writes and deletes."""
    api_client = api_client_for(server)
    core = client.CoreV1Api(api_client)
    ns = f"fill-{stored_pairs}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    server.call(lambda api: _fill(api, ns, stored_pairs))
    before = server.call(lambda api: api.gc_visits)
    owner = _config_map(core, ns, "round-owner")
    ref = _ref("ConfigMap", "round-owner", owner.metadata.uid)
    for i in range(5):
        _secret(core, ns, f"round-{i}", ref)
        core.patch_namespaced_secret(f"round-{i}", ns, {"metadata": {"labels": {"n": str(i)}}})
    _config_map(core, ns, "round-stray", _ref("ConfigMap", "ghost", str(uuid.uuid4())))
    core.delete_namespaced_config_map("round-owner", ns)
    visits = server.call(lambda api: api.gc_visits) - before
    assert _gone(core.read_namespaced_secret, "round-4", ns)
    assert _gone(core.read_namespaced_config_map, "round-stray", ns)
    api_client.close()
    return int(visits)


def test_collector_work_per_write_does_not_grow_with_the_store(
    fresh_apiserver: ServerThread,
) -> None:
    small = _visits_for_a_round_of_writes(fresh_apiserver, 10)
    large = _visits_for_a_round_of_writes(fresh_apiserver, 1500)
    assert small > 0  # the round did make the collector look at something
    assert large == small
    # Plain writes with live (or no) owners do not wake the collector at all.
    core = client.CoreV1Api(api_client_for(fresh_apiserver))
    before = fresh_apiserver.call(lambda api: api.gc_visits)
    for i in range(20):
        core.patch_namespaced_config_map(f"d-{i}", "fill-1500", {"data": {"k": str(i)}})
    assert fresh_apiserver.call(lambda api: api.gc_visits) == before


def test_store_indexes_follow_updates_and_removals() -> None:
    store = Store()
    cm = ("", "configmaps")
    owner = {"metadata": {"name": "o", "namespace": "a", "uid": "u-o"}}
    dep = {
        "metadata": {
            "name": "d",
            "namespace": "a",
            "uid": "u-d",
            "ownerReferences": [{"uid": "u-o"}],
        }
    }
    store.put(cm, owner, "ADDED")
    store.put(cm, dep, "ADDED")
    assert [o["metadata"]["name"] for _, o in store.dependents("u-o")] == ["d"]
    assert store.count_in("a") == 2
    moved = {
        "metadata": {
            "name": "d",
            "namespace": "a",
            "uid": "u-d",
            "ownerReferences": [{"uid": "u-x"}],
        }
    }
    store.put(cm, moved, "MODIFIED")
    assert store.dependents("u-o") == []
    assert [o["metadata"]["name"] for _, o in store.dependents("u-x")] == ["d"]
    store.remove(cm, store.get(cm, ("a", "d")) or {})
    assert store.dependents("u-x") == []
    assert store.by_uid("u-d") is None
    assert store.by_uid("u-o") is not None
    assert store.count_in("a") == 1
    assert [type(c.now) for c in store.take_changes()] == [dict, dict, dict, type(None)]
    assert store.take_changes() == []


def test_watch_history_is_bounded() -> None:
    store = Store(history=10)
    cm = ("", "configmaps")
    for i in range(50):
        store.put(cm, {"metadata": {"name": f"c{i}", "namespace": "a", "uid": f"u{i}"}}, "ADDED")
    assert len(store.log) == 10
    assert store.since(cm, 2) is None  # too old: the watch gets 410 Gone
    recent = store.since(cm, store.rv - 3)
    assert recent is not None
    assert len(recent) == 3
