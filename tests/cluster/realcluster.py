"""Helpers of the real-control-plane tests (the session itself is
``llmservice_testkit.cluster.session``, started by the ``real_cluster`` fixture of
tests/conftest.py, shared with tests/e2e).

Nothing here plays a controller: ReplicaSets, pods, scheduling, the HPA's status and
garbage collection come from kube-controller-manager and kube-scheduler; only the kubelet
is simulated (``llmservice_testkit.cluster.nodes``). The tests skip, saying why, on a
machine without Go (the control plane is built from the Kubernetes Go module).
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from llmservice_testkit.cluster.session import (
    KUBECTL,
    OPERATOR_USER,
    RealSession,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))  # the operator helpers, shared

from operator_helpers import Cluster, Operator, running_operator  # noqa: E402

Real = RealSession


def make_namespace(real: Real, api_client: Any) -> Iterator[str]:
    """A namespace per test, enforcing the restricted Pod Security level; deleted after it
    (the namespace controller and the simulated kubelets finish that in the background)."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    levels = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
    }
    body = {"metadata": {"name": name, "labels": levels}}
    client.CoreV1Api(api_client).create_namespace(body)
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            client.CoreV1Api(api_client).delete_namespace(name)


@contextlib.contextmanager
def operator_in(real: Real, namespaces: list[str], log: Path, **env: str) -> Iterator[Operator]:
    """The operator process with the ServiceAccount token of deploy/ (the real RBAC applies)."""
    settings = {"LLMSERVICE_FIRST_STATUS_DELAY": "0", **env}
    with running_operator(real.operator_kubeconfig, namespaces, log, settings) as op:
        yield op


def llms(real: Real, namespace: str, name: str) -> dict[str, Any]:
    out = real.kubectl("get", "llms", name, "-n", namespace, "-o", "json").stdout
    return dict(json.loads(out))


def apply(real: Real, namespace: str, doc: dict[str, Any]) -> None:
    real.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(doc))


def service_doc(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "llmservice.dev/v1alpha1",
        "kind": "LLMService",
        "metadata": {"name": name},
        "spec": spec,
    }


__all__ = ["KUBECTL", "OPERATOR_USER", "Cluster", "Operator", "wait_for"]
