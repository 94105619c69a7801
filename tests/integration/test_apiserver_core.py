"""Conformance of the local API server, through the official kubernetes client: metadata,
writes, conflicts, patches, deletion and discovery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import manifests
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from llmservice_testkit.emulator import ServerThread


def raw(
    server: ServerThread,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
) -> httpx.Response:
    """A request the generated client cannot express (chosen content type, raw list)."""
    return httpx.request(
        method, server.url + path, json=body, headers={"Content-Type": content_type}, timeout=10
    )


def _cm(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": data or {"a": "1"},
    }


def test_create_sets_server_metadata(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    created = core.create_namespaced_config_map(namespace, _cm("one"))
    meta = created.metadata
    assert meta.uid
    assert meta.resource_version
    assert meta.creation_timestamp is not None
    assert meta.namespace == namespace
    fetched = core.read_namespaced_config_map("one", namespace)
    assert fetched.metadata.uid == meta.uid
    assert fetched.metadata.resource_version == meta.resource_version


def test_generate_name(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    created = core.create_namespaced_config_map(
        namespace, {"metadata": {"generateName": "gen-"}, "data": {}}
    )
    assert created.metadata.name.startswith("gen-")
    assert len(created.metadata.name) > len("gen-")


def test_create_twice_is_409_already_exists(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("dup"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(namespace, _cm("dup"))
    assert err.value.status == 409
    assert "AlreadyExists" in err.value.body


def test_get_missing_is_404(k8s_api_client: Any, namespace: str) -> None:
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(k8s_api_client).read_namespaced_config_map("nope", namespace)
    assert err.value.status == 404


def test_create_in_missing_namespace_is_404(k8s_api_client: Any) -> None:
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(k8s_api_client).create_namespaced_config_map("no-such-ns", _cm("x"))
    assert err.value.status == 404


def test_put_with_stale_resource_version_is_409(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    first = core.create_namespaced_config_map(namespace, _cm("put"))
    stale = first.metadata.resource_version
    body = _cm("put", {"a": "2"}, resourceVersion=stale)
    second = core.replace_namespaced_config_map("put", namespace, body)
    assert int(second.metadata.resource_version) > int(stale)
    assert second.data == {"a": "2"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map(
            "put", namespace, _cm("put", {"a": "3"}, resourceVersion=stale)
        )
    assert err.value.status == 409
    assert "the object has been modified" in err.value.body


def test_noop_update_does_not_bump_resource_version(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    first = core.create_namespaced_config_map(namespace, _cm("noop"))
    again = core.patch_namespaced_config_map("noop", namespace, {"data": {"a": "1"}})
    assert again.metadata.resource_version == first.metadata.resource_version


def test_generation_bumps_on_spec_changes_only(k8s_api_client: Any, namespace: str) -> None:
    apps = client.AppsV1Api(k8s_api_client)
    dep = apps.create_namespaced_deployment(namespace, _deployment("gen"))
    assert dep.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment(
        "gen", namespace, {"metadata": {"labels": {"x": "y"}}}
    )
    assert labelled.metadata.generation == 1
    assert int(labelled.metadata.resource_version) > int(dep.metadata.resource_version)
    scaled = apps.patch_namespaced_deployment("gen", namespace, {"spec": {"replicas": 4}})
    assert scaled.metadata.generation == 2
    status = apps.patch_namespaced_deployment_status(
        "gen", namespace, {"status": {"replicas": 4, "readyReplicas": 4}}
    )
    assert status.metadata.generation == 2
    assert status.status.ready_replicas == 4


def _deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    out = manifests.deployment(name, replicas, [{"name": "main", "image": "busybox:1.36"}])
    out["metadata"]["labels"] = {"app": name}
    return out


def test_status_subresource_isolation(k8s_api_client: Any, namespace: str) -> None:
    apps = client.AppsV1Api(k8s_api_client)
    apps.create_namespaced_deployment(namespace, _deployment("iso"))
    # A status write cannot change the spec...
    apps.patch_namespaced_deployment_status(
        "iso", namespace, {"spec": {"replicas": 9}, "status": {"replicas": 1}}
    )
    got = apps.read_namespaced_deployment("iso", namespace)
    assert got.spec.replicas == 1
    assert got.status.replicas == 1
    # ...and a main-resource write cannot change the status.
    apps.patch_namespaced_deployment("iso", namespace, {"status": {"replicas": 7}})
    assert apps.read_namespaced_deployment("iso", namespace).status.replicas == 1


def test_json_patch_failed_test_op_is_422(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("jp"))
    ok = core.patch_namespaced_config_map(
        "jp",
        namespace,
        [
            {"op": "test", "path": "/data/a", "value": "1"},
            {"op": "replace", "path": "/data/a", "value": "2"},
        ],
    )
    assert ok.data == {"a": "2"}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map(
            "jp", namespace, [{"op": "test", "path": "/data/a", "value": "1"}]
        )
    assert err.value.status == 422


def test_merge_patch_deletes_with_null(
    apiserver: ServerThread, k8s_api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("mp", {"a": "1", "b": "2"}))
    response = raw(
        apiserver,
        "PATCH",
        f"/api/v1/namespaces/{namespace}/configmaps/mp",
        {"data": {"a": None, "c": "3"}},
        "application/merge-patch+json",
    )
    assert response.status_code == 200
    assert core.read_namespaced_config_map("mp", namespace).data == {"b": "2", "c": "3"}


def test_delete_then_404(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("del"))
    core.delete_namespaced_config_map("del", namespace)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("del", namespace)
    assert err.value.status == 404


def test_finalizers_hold_deletion(k8s_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("fin", finalizers=["example.com/hold"]))
    core.delete_namespaced_config_map("fin", namespace)
    held = core.read_namespaced_config_map("fin", namespace)
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as err:  # no new finalizers on a terminating object
        core.patch_namespaced_config_map(
            "fin", namespace, {"metadata": {"finalizers": ["example.com/hold", "other/x"]}}
        )
    assert err.value.status == 422
    core.patch_namespaced_config_map("fin", namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("fin", namespace)
    assert gone.value.status == 404


def test_list_has_kind_and_resource_version(
    apiserver: ServerThread, k8s_api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, _cm("l1"))
    listed = raw(apiserver, "GET", f"/api/v1/namespaces/{namespace}/configmaps").json()
    assert listed["kind"] == "ConfigMapList"
    assert listed["apiVersion"] == "v1"
    assert int(listed["metadata"]["resourceVersion"]) > 0
    assert [i["metadata"]["name"] for i in listed["items"]] == ["l1"]


def test_discovery(k8s_api_client: Any) -> None:
    core = client.CoreApi(k8s_api_client).get_api_versions()
    assert core.versions == ["v1"]
    v1 = client.CoreV1Api(k8s_api_client).get_api_resources()
    assert v1.group_version == "v1"
    names = {r.name for r in v1.resources}
    assert {"pods", "services", "configmaps", "namespaces", "pods/status"} <= names
    groups = client.ApisApi(k8s_api_client).get_api_versions()
    autoscaling = next(g for g in groups.groups if g.name == "autoscaling")
    assert autoscaling.preferred_version.version == "v2"
    apps = client.AppsV1Api(k8s_api_client).get_api_resources()
    assert apps.group_version == "apps/v1"
    assert "deployments/scale" in {r.name for r in apps.resources}


def test_builtin_kinds_are_validated_strictly(apiserver: ServerThread, namespace: str) -> None:
    body = _deployment("bad")
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 7
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    response = raw(apiserver, "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body)
    assert response.status_code == 422
    assert response.json()["reason"] == "Invalid"
    assert "imagePullPolicy" in response.json()["message"]
    assert "imagePullPolicyy" in response.json()["message"]


def test_builtin_defaults(k8s_api_client: Any, namespace: str) -> None:
    apps = client.AppsV1Api(k8s_api_client)
    body = _deployment("defaults")
    del body["spec"]["replicas"]
    created = apps.create_namespaced_deployment(namespace, body)
    assert created.spec.replicas == 1
    assert created.spec.strategy.type == "RollingUpdate"
    svc = client.CoreV1Api(k8s_api_client).create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]},
        },
    )
    assert svc.spec.type == "ClusterIP"
    assert svc.spec.cluster_ip
    assert svc.spec.ports[0].target_port == 80
    assert svc.spec.ports[0].protocol == "TCP"


def test_serve_command_writes_a_kubeconfig_the_client_uses(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmservice_testkit",
            "serve",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the kubeconfig is written
        assert "serving on http://127.0.0.1:" in line
        api_client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        names = [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items]
        assert "default" in names
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


def test_server_binds_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ServerThread(host="0.0.0.0")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/namespaces/{ns}/configmaps", _cm("Not_Valid"), "metadata.name"),
        (
            "/api/v1/namespaces/{ns}/configmaps",
            _cm("ok", labels={"app": "has space"}),
            "metadata.labels.app",
        ),
        (
            "/api/v1/namespaces/{ns}/configmaps",
            _cm("ok", labels={"-bad-key": "x"}),
            "metadata.labels",
        ),
        (
            "/api/v1/namespaces/{ns}/services",
            {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}},
            "metadata.name",
        ),
    ],
)
def test_object_meta_is_validated(
    apiserver: ServerThread, namespace: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = raw(apiserver, "POST", path.format(ns=namespace), body)
    assert response.status_code == 422
    causes = response.json()["details"]["causes"]
    assert field in [c["field"] for c in causes]
