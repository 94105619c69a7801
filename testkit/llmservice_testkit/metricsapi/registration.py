"""How the test metrics server is made known to kube-apiserver: the objects of an
aggregated API, built by pure functions, and their apply, wait and removal.

- a Service without a selector (``kube-system/testkit-metrics-api``, port 443 named
  ``https``): the APIServices name it, and the aggregator sends requests to the serving
  certificate's name ``<service>.<namespace>.svc``;
- its EndpointSlice, written here (``managed-by`` the test kit, so neither the EndpointSlice
  controller nor its mirroring touch it): with ``--enable-aggregator-routing=true`` the API
  server connects to an endpoint's address and port, not to the Service's cluster IP
  (nothing on this host routes cluster IPs to a simulated node's pods). Its port name must
  equal the Service port's, or the aggregator finds no endpoint;
- two APIServices, ``v1beta1.metrics.k8s.io`` and ``v1beta2.custom.metrics.k8s.io``, with
  the cluster's CA as their ``caBundle`` (the server's certificate is signed by it).

No RBAC object is needed: the HPA controller, which runs under its own ServiceAccount
(``--use-service-account-credentials``), is already allowed to list ``pods.metrics.k8s.io``
and get ``custom.metrics.k8s.io`` by the API server's bootstrap ClusterRole
``system:controller:horizontal-pod-autoscaler``; the administrator (``kubectl``) may do
anything.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpx

from llmservice_testkit.metricsapi.server import (
    CUSTOM_GROUP,
    CUSTOM_VERSION,
    RESOURCE_GROUP,
    RESOURCE_VERSION,
)

NAMESPACE = "kube-system"
NAME = "testkit-metrics-api"
PORT_NAME = "https"
MANAGER = "llmservice-testkit"
Obj = dict[str, Any]


def server_name(namespace: str = NAMESPACE, name: str = NAME) -> str:
    """The name the aggregator checks the server's certificate against."""
    return f"{name}.{namespace}.svc"


def service(namespace: str = NAMESPACE, name: str = NAME) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"name": PORT_NAME, "port": 443, "protocol": "TCP"}]},
    }


def endpoint_slice(address: str, port: int, namespace: str = NAMESPACE, name: str = NAME) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "testkit.llmservice.dev",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
    }


def api_services(ca_bundle: bytes, namespace: str = NAMESPACE, name: str = NAME) -> list[Obj]:
    def one(group: str, version: str, version_priority: int) -> Obj:
        return {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": f"{version}.{group}"},
            "spec": {
                "group": group,
                "version": version,
                "service": {"namespace": namespace, "name": name, "port": 443},
                "caBundle": base64.b64encode(ca_bundle).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": version_priority,
            },
        }

    return [
        one(RESOURCE_GROUP, RESOURCE_VERSION, 100),
        one(CUSTOM_GROUP, CUSTOM_VERSION, 200),
    ]


def _path(obj: Obj) -> str:
    kind, name = obj["kind"], obj["metadata"]["name"]
    namespace = obj["metadata"].get("namespace", "")
    if kind == "Service":
        return f"/api/v1/namespaces/{namespace}/services/{name}"
    if kind == "EndpointSlice":
        return f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}"
    if kind == "APIService":
        return f"/apis/apiregistration.k8s.io/v1/apiservices/{name}"
    raise ValueError(f"no path known for {kind}")


class Registrar:
    """Applies and removes the objects with the administrator's token."""

    def __init__(self, url: str, ca_file: Path, token: str) -> None:
        self.client = httpx.Client(
            base_url=url,
            verify=ssl.create_default_context(cafile=str(ca_file)),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def apply(self, objects: list[Obj]) -> None:
        """Server-side apply, forced: the test kit owns these objects."""
        for obj in objects:
            answer = self.client.patch(
                _path(obj),
                params={"fieldManager": MANAGER, "force": "true"},
                content=json.dumps(obj),
                headers={"Content-Type": "application/apply-patch+yaml"},
            )
            if answer.status_code >= 300:
                raise RuntimeError(
                    f"applying {obj['kind']} {obj['metadata']['name']}: "
                    f"{answer.status_code} {answer.text[:300]}"
                )

    def wait_available(self, names: list[str], timeout: float = 60.0) -> None:
        """Until every APIService reports Available (the aggregator reached the server)."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            pending = []
            for name in names:
                answer = self.client.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")
                conditions = (answer.json().get("status") or {}).get("conditions") or []
                available = [c for c in conditions if c.get("type") == "Available"]
                if not available or available[0].get("status") != "True":
                    pending.append(name)
                    last = f"{name}: {available[0].get('message') if available else 'no status'}"
            if not pending:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the metrics APIServices are not Available: {last}")
            time.sleep(0.25)

    def remove(self, objects: list[Obj]) -> None:
        """Delete them (the APIServices first: their group leaves discovery at once)."""
        for obj in reversed(objects):
            answer = self.client.delete(_path(obj))
            if answer.status_code not in (200, 202, 404):
                raise RuntimeError(
                    f"deleting {obj['kind']} {obj['metadata']['name']}: {answer.status_code}"
                )

    def close(self) -> None:
        self.client.close()
