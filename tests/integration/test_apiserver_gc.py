"""ownerReference garbage collection (background, foreground, orphan) and namespace deletion."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def _owner(core: client.CoreV1Api, ns: str, name: str) -> client.V1ConfigMap:
    return core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name))
    )


def _dependent(
    core: client.CoreV1Api,
    ns: str,
    name: str,
    *owners: client.V1ConfigMap,
    finalizers: list[str] | None = None,
) -> client.V1ConfigMap:
    refs = [
        client.V1OwnerReference(
            api_version="v1",
            kind="ConfigMap",
            name=o.metadata.name,
            uid=o.metadata.uid,
            controller=(i == 0),
        )
        for i, o in enumerate(owners)
    ]
    meta = client.V1ObjectMeta(name=name, owner_references=refs, finalizers=finalizers)
    return core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta))


def _exists(core: client.CoreV1Api, ns: str, name: str) -> bool:
    try:
        core.read_namespaced_config_map(name, ns)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_background_deletion_collects_dependents(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    owner = _owner(core, namespace, "owner")
    child = _dependent(core, namespace, "child", owner)
    _dependent(core, namespace, "grandchild", child)
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")
    assert not _exists(core, namespace, "owner")
    assert not _exists(core, namespace, "child")
    assert not _exists(core, namespace, "grandchild")


def test_dependent_with_another_live_owner_survives(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    first, second = _owner(core, namespace, "first"), _owner(core, namespace, "second")
    _dependent(core, namespace, "shared", first, second)
    core.delete_namespaced_config_map("first", namespace)
    assert _exists(core, namespace, "shared")
    core.delete_namespaced_config_map("second", namespace)
    assert not _exists(core, namespace, "shared")


def test_foreground_deletion_waits_for_dependents(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    owner = _owner(core, namespace, "fg")
    _dependent(core, namespace, "held", owner, finalizers=["example.com/hold"])
    core.delete_namespaced_config_map("fg", namespace, propagation_policy="Foreground")
    waiting = core.read_namespaced_config_map("fg", namespace)
    assert waiting.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in waiting.metadata.finalizers
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}})
    assert not _exists(core, namespace, "held")
    assert not _exists(core, namespace, "fg")


def test_orphan_deletion_keeps_dependents(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    owner = _owner(core, namespace, "orph")
    _dependent(core, namespace, "kept", owner)
    core.delete_namespaced_config_map("orph", namespace, propagation_policy="Orphan")
    assert not _exists(core, namespace, "orph")
    kept = core.read_namespaced_config_map("kept", namespace)
    assert not kept.metadata.owner_references


def test_namespace_deletion_waits_for_its_contents(k8s_api_client: Any) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="ns-gc")))
    _owner(core, "ns-gc", "plain")
    core.create_namespaced_config_map(
        "ns-gc",
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="sticky", finalizers=["example.com/hold"])
        ),
    )
    core.delete_namespace("ns-gc")
    terminating = core.read_namespace("ns-gc")
    assert terminating.status.phase == "Terminating"
    assert not _exists(core, "ns-gc", "plain")
    with pytest.raises(ApiException) as err:
        _owner(core, "ns-gc", "late")
    assert err.value.status == 403
    core.patch_namespaced_config_map("sticky", "ns-gc", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as gone:
        core.read_namespace("ns-gc")
    assert gone.value.status == 404


def test_delete_collection_with_selector(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"app": app})),
        )
    core.delete_collection_namespaced_config_map(namespace, label_selector="app=x")
    assert [i.metadata.name for i in core.list_namespaced_config_map(namespace).items] == ["c"]
