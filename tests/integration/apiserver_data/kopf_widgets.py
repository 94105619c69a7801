"""A small kopf operator for the local API server's tests: create, update and delete
handlers, a finalizer (kopf adds one for on.delete), a child with an ownerReference and
status patches."""

from __future__ import annotations

from typing import Any

import kopf
import kubernetes


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = "testing.llmservice.dev/kopf-finalizer"
    settings.posting.enabled = True
    settings.watching.server_timeout = 30
    settings.watching.chunk_size = 2  # lists come in pages of 2 (limit/continue)
    kubernetes.config.load_kube_config()


def _child(name: str, size: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-child"},
        "data": {"size": str(size)},
    }


@kopf.on.create("testing.llmservice.dev", "v1", "widgets")
def created(
    spec: Any, name: str, namespace: str, body: Any, patch: Any, **_: Any
) -> dict[str, Any]:
    child = _child(name, spec["size"])
    kopf.adopt(child, owner=body)
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, child)
    patch.status["phase"] = "Created"
    return {"child": child["metadata"]["name"]}


@kopf.on.update("testing.llmservice.dev", "v1", "widgets", field="spec.size")
def resized(new: Any, name: str, namespace: str, patch: Any, **_: Any) -> None:
    kubernetes.client.CoreV1Api().patch_namespaced_config_map(
        f"{name}-child", namespace, {"data": {"size": str(new)}}
    )
    patch.status["phase"] = "Resized"


@kopf.on.delete("testing.llmservice.dev", "v1", "widgets")
def deleted(name: str, namespace: str, **_: Any) -> None:
    farewell = {"metadata": {"name": f"{name}-farewell"}, "data": {"bye": "yes"}}
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, farewell)
