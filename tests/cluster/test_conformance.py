"""The same API behaviours against the emulator (the test kit's local API server) and the
real kube-apiserver, so the emulator stays honest about what it is.

Where the two agree the test asserts one outcome; where they differ the difference is
pinned (``DIFFERENCES`` below, and the emulator's README): if the emulator is fixed, or the
real server changes, the pin fails and the list is updated.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from realcluster import KUBECTL, ROOT, Real, wait_for

pytestmark = pytest.mark.slow
CRD_PATH = ROOT / "crds" / "llmservices.llmservice.dev.yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Behaviours where the emulator knowingly differs from kube-apiserver (also listed in the
# test kit's README); each is asserted both ways below.
DIFFERENCES = {
    "protobuf": "kubectl's protobuf requests (create configmap, create namespace) are refused",
    "child-validation": "built-in kinds are checked against their OpenAPI schema only: "
    "a negative CPU request or an invalid toleration effect is stored",
    "namespace-finalization": "a deleted namespace is gone at once, without Terminating",
    "crd-defaults": "a CRD's defaults are not checked against its CEL rules, nor the rules'"
    " estimated cost against the budget: a CRD the real server refuses is accepted",
}


@dataclass
class Backend:
    name: str
    kubeconfig: Path
    api: Any
    namespace: str

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from llmservice_testkit.emulator.thread import ServerThread

    with ServerThread(kubeconfig_path=tmp_path_factory.mktemp("emu") / "kubeconfig") as server:
        yield server


@pytest.fixture(params=["emulator", "real"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    from kubernetes import config

    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    if request.param == "emulator":
        server = request.getfixturevalue("emulator")
        kubeconfig = Path(server.kubeconfig_path)
    else:
        real: Real = request.getfixturevalue("real_cluster")
        kubeconfig = real.kubeconfig
    api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    ns = f"conf-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    ext = client.ApiextensionsV1Api(api)
    if request.param == "emulator":
        import yaml

        try:
            ext.create_custom_resource_definition(yaml.safe_load(CRD_PATH.read_text()))
        except ApiException as exc:
            if exc.status != 409:
                raise
    wait_for(
        lambda: client.CustomObjectsApi(api).list_namespaced_custom_object(
            "llmservice.dev", "v1alpha1", ns, "llmservices"
        ),
        "the CRD to be served",
    )
    # The default ServiceAccount appears through a controller on the real server only.
    yield Backend(request.param, kubeconfig, api, ns)
    api.close()


def status_of(call: Any) -> int:
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def configmap(name: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {}}


def test_a_stale_resource_version_is_a_conflict(backend: Backend) -> None:
    core = client.CoreV1Api(backend.api)
    made = core.create_namespaced_config_map(backend.namespace, configmap("cm", {"a": "1"}))
    stale = made.metadata.resource_version
    core.patch_namespaced_config_map("cm", backend.namespace, {"data": {"a": "2"}})
    body = configmap("cm", {"a": "3"})
    body["metadata"]["resourceVersion"] = stale
    assert (
        status_of(lambda: core.replace_namespaced_config_map("cm", backend.namespace, body)) == 409
    )


def test_a_failed_json_patch_test_is_422(backend: Backend) -> None:
    core = client.CoreV1Api(backend.api)
    core.create_namespaced_config_map(backend.namespace, configmap("cm", {"a": "1"}))
    patch = [{"op": "test", "path": "/data/a", "value": "2"}]
    assert (
        status_of(
            lambda: core.patch_namespaced_config_map(
                "cm", backend.namespace, patch, _content_type=JSON_PATCH
            )
        )
        == 422
    )


def test_server_side_apply_conflicts_name_the_other_manager_and_force_wins(
    backend: Backend,
) -> None:
    core = client.CoreV1Api(backend.api)
    body = configmap("owned", {"k": "mine"})
    core.patch_namespaced_config_map(
        "owned", backend.namespace, body, field_manager="first", _content_type=APPLY_PATCH
    )
    theirs = configmap("owned", {"k": "theirs"})
    with pytest.raises(ApiException) as refused:
        core.patch_namespaced_config_map(
            "owned", backend.namespace, theirs, field_manager="second", _content_type=APPLY_PATCH
        )
    assert refused.value.status == 409
    assert "first" in json.loads(refused.value.body)["message"]
    core.patch_namespaced_config_map(
        "owned", backend.namespace, theirs, field_manager="second", force=True,
        _content_type=APPLY_PATCH,
    )  # fmt: skip
    assert core.read_namespaced_config_map("owned", backend.namespace).data == {"k": "theirs"}


def test_status_and_spec_are_written_through_their_own_endpoints(backend: Backend) -> None:
    custom = client.CustomObjectsApi(backend.api)
    args = ("llmservice.dev", "v1alpha1", backend.namespace, "llmservices")
    body = {
        "apiVersion": "llmservice.dev/v1alpha1",
        "kind": "LLMService",
        "metadata": {"name": "iso"},
        "spec": {},
        "status": {"phase": "Ready"},
    }
    made = custom.create_namespaced_custom_object(*args, body)
    assert "status" not in made or made["status"].get("phase") != "Ready"
    custom.patch_namespaced_custom_object_status(
        *args, "iso", {"status": {"phase": "Pending"}, "spec": {"replicas": 5}}
    )
    seen = custom.get_namespaced_custom_object(*args, "iso")
    assert seen["status"]["phase"] == "Pending"
    assert seen["spec"].get("replicas") != 5
    assert seen["metadata"]["generation"] == 1


def test_cel_rules_refuse_with_the_field_named(backend: Backend) -> None:
    custom = client.CustomObjectsApi(backend.api)
    body = {
        "apiVersion": "llmservice.dev/v1alpha1",
        "kind": "LLMService",
        "metadata": {"name": "bad"},
        "spec": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}},
    }
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(
            "llmservice.dev", "v1alpha1", backend.namespace, "llmservices", body
        )
    assert refused.value.status == 422
    assert "spec.autoscaling" in json.loads(refused.value.body)["message"]


def test_watch_from_a_resource_version_sees_what_came_after(backend: Backend) -> None:
    from kubernetes import watch

    core = client.CoreV1Api(backend.api)
    first = core.create_namespaced_config_map(backend.namespace, configmap("w1"))
    core.create_namespaced_config_map(backend.namespace, configmap("w2"))
    seen = []
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        backend.namespace,
        resource_version=first.metadata.resource_version,
        timeout_seconds=3,
    )
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 1:
            break
    assert seen == [("ADDED", "w2")]


def test_deleting_an_owner_collects_its_dependents(backend: Backend) -> None:
    core = client.CoreV1Api(backend.api)
    owner = core.create_namespaced_config_map(backend.namespace, configmap("owner"))
    dependent = configmap("dependent")
    dependent["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    ]
    core.create_namespaced_config_map(backend.namespace, dependent)
    core.delete_namespaced_config_map("owner", backend.namespace)
    wait_for(
        lambda: (
            status_of(lambda: core.read_namespaced_config_map("dependent", backend.namespace))
            == 404
        ),
        "the dependent to be garbage-collected",
    )


def test_list_pages_with_limit_and_continue(backend: Backend) -> None:
    core = client.CoreV1Api(backend.api)
    for i in range(5):
        core.create_namespaced_config_map(backend.namespace, configmap(f"p{i}"))
    first = core.list_namespaced_config_map(backend.namespace, limit=2)
    assert len(first.items) == 2
    assert first.metadata._continue
    names = [c.metadata.name for c in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(backend.namespace, limit=2, _continue=token)
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
    assert sorted(n for n in names if n.startswith("p")) == [f"p{i}" for i in range(5)]


# --------------------------------------------------------------------------------------
# the pinned differences


def test_difference_protobuf_requests(backend: Backend) -> None:
    made = backend.kubectl("create", "configmap", "proto", "--from-literal=k=v")
    if backend.name == "real":
        assert made.returncode == 0, made.stderr
    else:
        assert made.returncode != 0, DIFFERENCES["protobuf"]
        assert "does not speak protobuf" in made.stderr


def test_difference_validation_of_built_in_kinds(backend: Backend) -> None:
    core = client.CoreV1Api(backend.api)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "negative"},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "-1"}}}
            ],
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "Bogus"}],
        },
    }
    code = status_of(lambda: core.create_namespaced_pod(backend.namespace, pod))
    if backend.name == "real":
        assert code == 422
    else:
        assert code in (200, 201), DIFFERENCES["child-validation"]


def test_difference_namespace_finalization(backend: Backend) -> None:
    core = client.CoreV1Api(backend.api)
    core.create_namespace({"metadata": {"name": backend.namespace + "-x"}})
    core.delete_namespace(backend.namespace + "-x")
    try:
        phase = core.read_namespace(backend.namespace + "-x").status.phase
    except ApiException as exc:
        phase = f"gone ({exc.status})"
    if backend.name == "real":
        assert phase in ("Terminating", "gone (404)")
    else:
        assert phase == "gone (404)", DIFFERENCES["namespace-finalization"]


def test_a_fractional_watch_timeout_is_refused(backend: Backend) -> None:
    """kopf sends ``timeoutSeconds`` as the operator configures it: "600.0" started no watch
    at all on the real API server, while the emulator used to accept it."""
    # The client itself checks for an integer, so the request is built by hand.
    request = backend.api.param_serialize(
        method="GET",
        resource_path="/api/v1/namespaces/{namespace}/configmaps",
        path_params={"namespace": backend.namespace},
        query_params=[("watch", "true"), ("timeoutSeconds", "1.5")],
        auth_settings=["BearerToken"],
    )
    answer = backend.api.call_api(*request)
    assert answer.status == 400


def test_difference_crd_defaults_checked_against_rules(backend: Backend) -> None:
    """A CRD whose default breaks one of its own CEL rules (the LLMService CRD of before, with
    ``default: {}`` on an object whose rule reads a field) is refused by the real server."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets{backend.namespace.replace('-', '')}.example.org"},
        "spec": {
            "group": "example.org",
            "scope": "Namespaced",
            "names": {
                "plural": f"widgets{backend.namespace.replace('-', '')}",
                "kind": f"Widget{backend.namespace.replace('-', '')}",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "default": {},
                                    "properties": {"size": {"type": "integer", "default": 1}},
                                    "x-kubernetes-validations": [{"rule": "self.size > 0"}],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    ext = client.ApiextensionsV1Api(backend.api)
    code = status_of(lambda: ext.create_custom_resource_definition(crd))
    if backend.name == "real":
        assert code == 422
    else:
        assert code in (200, 201), DIFFERENCES["crd-defaults"]
