"""Lists and watches: label and field selectors, resuming from a resourceVersion, 410 Gone,
server-side timeouts."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from llmservice_testkit.emulator import ServerThread
from llmservice_testkit.pytest_plugin import api_client_for


def _cm(name: str, labels: dict[str, str] | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}), data={"k": "v"}
    )


@pytest.fixture
def labelled(k8s_api_client: Any, namespace: str) -> client.CoreV1Api:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("a", {"app": "x", "tier": "web"}))
    core.create_namespaced_config_map(namespace, _cm("b", {"app": "y", "tier": "web"}))
    core.create_namespaced_config_map(namespace, _cm("c", {"app": "z"}))
    return core


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("app=x", ["a"]),
        ("app==x", ["a"]),
        ("app!=x", ["b", "c"]),
        ("app in (x,y)", ["a", "b"]),
        ("app notin (x,y)", ["c"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c"]),
        ("tier=web,app!=y", ["a"]),
    ],
)
def test_label_selectors(
    labelled: client.CoreV1Api, namespace: str, selector: str, names: list[str]
) -> None:
    found = labelled.list_namespaced_config_map(namespace, label_selector=selector)
    assert [i.metadata.name for i in found.items] == names


def test_bad_label_selector_is_400(labelled: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as err:
        labelled.list_namespaced_config_map(namespace, label_selector="app in x")
    assert err.value.status == 400


def test_field_selectors(labelled: client.CoreV1Api, namespace: str) -> None:
    by_name = labelled.list_namespaced_config_map(namespace, field_selector="metadata.name=b")
    assert [i.metadata.name for i in by_name.items] == ["b"]
    not_name = labelled.list_namespaced_config_map(namespace, field_selector="metadata.name!=b")
    assert [i.metadata.name for i in not_name.items] == ["a", "c"]
    everywhere = labelled.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace}"
    )
    assert len(everywhere.items) == 3
    with pytest.raises(ApiException) as err:
        labelled.list_namespaced_config_map(namespace, field_selector="data.k=v")
    assert err.value.status == 400


def test_watch_resumes_from_resource_version(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("before"))
    listed = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, _cm("after"))
    core.patch_namespaced_config_map("before", namespace, {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("after", namespace)
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    seen = [(e["type"], e["object"].metadata.name) for e in events]
    assert seen == [("ADDED", "after"), ("MODIFIED", "before"), ("DELETED", "after")]


def test_watch_without_version_starts_with_current_objects(
    k8s_api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("one", {"app": "x"}))
    core.create_namespaced_config_map(namespace, _cm("two", {"app": "y"}))
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, namespace, label_selector="app=x", timeout_seconds=1
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "one")]


def test_watch_with_selector_sees_objects_leave_and_enter(
    k8s_api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("m", {"app": "x"}))
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.patch_namespaced_config_map("m", namespace, {"metadata": {"labels": {"app": "y"}}})
    core.patch_namespaced_config_map("m", namespace, {"metadata": {"labels": {"app": "x"}}})
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            label_selector="app=x",
            resource_version=rv,
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]


def test_watch_from_expired_version_is_410(fresh_apiserver: ServerThread) -> None:
    api_client = api_client_for(fresh_apiserver)
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", _cm("x"))
    old = core.list_namespaced_config_map("default").metadata.resource_version
    core.patch_namespaced_config_map("x", "default", {"data": {"k": "2"}})
    fresh_apiserver.expire_resource_versions()
    # As from a real API server: a 200 stream whose only event is an ERROR with 410 Expired,
    # which the client raises.
    with pytest.raises(ApiException) as err:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=1
            )
        )
    assert err.value.status == 410
    current = core.list_namespaced_config_map("default").metadata.resource_version
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=current, timeout_seconds=1
        )
    )
    assert events == []


def test_watch_ends_at_server_timeout(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    # Ends by itself (the client sets no read timeout): the server honours timeoutSeconds.
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=1
        )
    )
    assert events == []


def test_watch_of_a_single_object(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("mine"))
    core.create_namespaced_config_map(namespace, _cm("other"))
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            field_selector="metadata.name=mine",
            timeout_seconds=1,
        )
    )
    assert [e["object"].metadata.name for e in events] == ["mine"]
