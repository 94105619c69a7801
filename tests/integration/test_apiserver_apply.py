"""Server-side apply and strategic merge patch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from llmservice_testkit.emulator import ServerThread

APPLY = "application/apply-patch+yaml"
SMP = "application/strategic-merge-patch+json"


def deployment(name: str, **extra_spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "backend",
                            "image": "backend:1",
                            "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 8080, "name": "http"}],
                        }
                    ]
                },
            },
            **extra_spec,
        },
    }


def apply(
    server: ServerThread, ns: str, body: dict[str, Any], manager: str, force: bool = False
) -> httpx.Response:
    name = body["metadata"]["name"]
    query = f"fieldManager={manager}" + ("&force=true" if force else "")
    return httpx.patch(
        f"{server.url}/apis/apps/v1/namespaces/{ns}/deployments/{name}?{query}",
        content=yaml.safe_dump(body),
        headers={"Content-Type": APPLY},
        timeout=10,
    )


def smp(server: ServerThread, ns: str, name: str, patch: Any) -> httpx.Response:
    return httpx.patch(
        f"{server.url}/apis/apps/v1/namespaces/{ns}/deployments/{name}",
        json=patch,
        headers={"Content-Type": SMP},
        timeout=10,
    )


def test_apply_creates_then_noop_changes_nothing(apiserver: ServerThread, namespace: str) -> None:
    first = apply(apiserver, namespace, deployment("ssa"), "op")
    assert first.status_code == 201, first.text
    created = first.json()
    managers = {e["manager"]: e for e in created["metadata"]["managedFields"]}
    assert managers["op"]["operation"] == "Apply"
    again = apply(apiserver, namespace, deployment("ssa"), "op").json()
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    assert again["metadata"]["generation"] == 1


def test_other_managers_fields_survive_and_conflicts_need_force(
    apiserver: ServerThread, k8s_api_client: Any, namespace: str
) -> None:
    assert apply(apiserver, namespace, deployment("own"), "op").status_code in (200, 201)
    # Another actor (say, an HPA) sets replicas with an ordinary patch.
    apps = client.AppsV1Api(k8s_api_client)
    apps.patch_namespaced_deployment(
        "own", namespace, {"spec": {"replicas": 4}}, field_manager="hpa"
    )
    # The operator re-applies without replicas: the HPA's value survives.
    changed = deployment("own")
    changed["metadata"]["labels"]["extra"] = "yes"
    result = apply(apiserver, namespace, changed, "op").json()
    assert result["spec"]["replicas"] == 4
    assert result["metadata"]["labels"]["extra"] == "yes"
    # Applying a different replicas value conflicts with the HPA's ownership...
    conflicting = deployment("own", replicas=2)
    response = apply(apiserver, namespace, conflicting, "op")
    assert response.status_code == 409
    assert 'conflict with "hpa"' in response.json()["message"]
    assert ".spec.replicas" in response.json()["message"]
    # ...unless forced, which takes ownership.
    forced = apply(apiserver, namespace, conflicting, "op", force=True).json()
    assert forced["spec"]["replicas"] == 2
    owners = {
        e["manager"]
        for e in forced["metadata"]["managedFields"]
        if "f:replicas" in e["fieldsV1"].get("f:spec", {})
    }
    assert owners == {"op"}


def test_apply_removes_fields_the_manager_stopped_applying(
    apiserver: ServerThread, namespace: str
) -> None:
    body = deployment("drop")
    body["metadata"]["annotations"] = {"a": "1", "b": "2"}
    apply(apiserver, namespace, body, "op")
    del body["metadata"]["annotations"]["b"]
    result = apply(apiserver, namespace, body, "op").json()
    assert result["metadata"]["annotations"] == {"a": "1"}


def test_apply_merges_containers_by_name(apiserver: ServerThread, namespace: str) -> None:
    apply(apiserver, namespace, deployment("merge"), "op")
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "merge"},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "s:1"}]}}},
    }
    result = apply(apiserver, namespace, sidecar, "injector").json()
    names = [c["name"] for c in result["spec"]["template"]["spec"]["containers"]]
    assert names == ["backend", "sidecar"]


def test_strategic_merge_patch_merges_by_keys(
    apiserver: ServerThread, k8s_api_client: Any, namespace: str
) -> None:
    client.AppsV1Api(k8s_api_client).create_namespaced_deployment(namespace, deployment("smp"))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "backend",
                            "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "changed"}],
                            "ports": [{"containerPort": 9090, "name": "metrics"}],
                            "volumeMounts": [{"mountPath": "/models", "name": "models"}],
                        }
                    ],
                    "volumes": [{"name": "models", "emptyDir": {}}],
                }
            }
        }
    }
    response = smp(apiserver, namespace, "smp", patch)
    assert response.status_code == 200, response.text
    container = response.json()["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "backend:1"
    assert container["env"] == [{"name": "A", "value": "changed"}, {"name": "B", "value": "2"}]
    assert [p["containerPort"] for p in container["ports"]] == [8080, 9090]
    assert container["volumeMounts"] == [{"mountPath": "/models", "name": "models"}]
    delete = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "backend", "env": [{"name": "B", "$patch": "delete"}]}]
                }
            }
        }
    }
    after = smp(apiserver, namespace, "smp", delete).json()
    assert after["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "changed"}
    ]


def test_strategic_merge_patch_is_refused_for_custom_resources(
    apiserver: ServerThread, k8s_api_client: Any, namespace: str
) -> None:
    crd = yaml.safe_load((Path(__file__).parent / "apiserver_data/widgets-crd.yaml").read_text())
    try:
        client.ApiextensionsV1Api(k8s_api_client).create_custom_resource_definition(crd)
    except ApiException as exc:
        if exc.status != 409:  # already registered by another test module
            raise
    base = f"{apiserver.url}/apis/testing.llmservice.dev/v1/namespaces/{namespace}/widgets"
    body = {
        "apiVersion": "testing.llmservice.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1},
    }
    assert httpx.post(base, json=body, timeout=10).status_code == 201
    response = httpx.patch(
        f"{base}/w", json={"spec": {"size": 2}}, headers={"Content-Type": SMP}, timeout=10
    )
    assert response.status_code == 415


@pytest.mark.parametrize("manager", ["", None])
def test_apply_requires_a_field_manager(
    apiserver: ServerThread, namespace: str, manager: str | None
) -> None:
    query = "" if manager is None else "?fieldManager="
    response = httpx.patch(
        f"{apiserver.url}/apis/apps/v1/namespaces/{namespace}/deployments/x{query}",
        content=yaml.safe_dump(deployment("x")),
        headers={"Content-Type": APPLY},
        timeout=10,
    )
    assert response.status_code == 400
    assert "fieldManager" in response.json()["message"]


def test_dry_run_apply_validates_without_writing(apiserver: ServerThread, namespace: str) -> None:
    created = apply(apiserver, namespace, deployment("dry"), "op").json()
    changed = deployment("dry", replicas=5)
    name = "dry"
    response = httpx.patch(
        f"{apiserver.url}/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        "?fieldManager=op&dryRun=All",
        content=yaml.safe_dump(changed),
        headers={"Content-Type": APPLY},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["spec"]["replicas"] == 5
    live = httpx.get(
        f"{apiserver.url}/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    ).json()
    assert live["spec"]["replicas"] == 1
    assert live["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
