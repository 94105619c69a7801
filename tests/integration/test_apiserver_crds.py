"""CRDs registered through the API: discovery, schema validation, defaults, pruning, CEL,
status and scale subresources."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from llmservice_testkit.emulator import ServerThread

DATA = Path(__file__).parent / "apiserver_data"
GROUP, VERSION, PLURAL = "testing.llmservice.dev", "v1", "widgets"
REAL_CRD = Path(__file__).parents[2] / "crds" / "llmservices.llmservice.dev.yaml"


@pytest.fixture(scope="module")
def widgets(apiserver: ServerThread, k8s_api_client: Any) -> client.CustomObjectsApi:
    crd = yaml.safe_load((DATA / "widgets-crd.yaml").read_text())
    ext = client.ApiextensionsV1Api(k8s_api_client)
    try:
        ext.create_custom_resource_definition(crd)
    except ApiException as exc:
        if exc.status != 409:
            raise
    return client.CustomObjectsApi(k8s_api_client)


def _widget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": 2, **spec},
    }


def _create(api: client.CustomObjectsApi, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    return result


def test_crd_is_established_and_discoverable(
    widgets: client.CustomObjectsApi, k8s_api_client: Any
) -> None:
    crd = client.ApiextensionsV1Api(k8s_api_client).read_custom_resource_definition(
        f"{PLURAL}.{GROUP}"
    )
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions["Established"] == "True"
    resources = client.CustomObjectsApi(k8s_api_client).get_api_resources(GROUP, VERSION)
    names = {r.name: r for r in resources.resources}
    assert names["widgets"].kind == "Widget"
    assert names["widgets"].short_names == ["wdg"]
    assert {"widgets/status", "widgets/scale"} <= set(names)


def test_defaults_and_pruning(widgets: client.CustomObjectsApi, namespace: str) -> None:
    created = _create(widgets, namespace, _widget("d1", unknownField="x"))
    assert created["spec"]["color"] == "blue"
    assert created["spec"]["replicas"] == 1
    assert "unknownField" not in created["spec"]
    assert created["metadata"]["generation"] == 1


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"color": "purple"}, "spec.color", "Unsupported value"),
        ({"size": 11}, "spec.size", "less than or equal to 10"),
        ({"size": "big"}, "spec.size", "must be of type integer"),
        ({"minReplicas": 5, "maxReplicas": 2}, "spec", "minReplicas must not exceed maxReplicas"),
    ],
)
def test_schema_and_cel_rejections_name_the_field(
    widgets: client.CustomObjectsApi, namespace: str, spec: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ApiException) as err:
        _create(widgets, namespace, _widget("bad", **spec))
    assert err.value.status == 422
    assert f"{field}: " in err.value.body
    assert words in err.value.body


def test_required_field(widgets: client.CustomObjectsApi, namespace: str) -> None:
    body = _widget("req")
    del body["spec"]["size"]
    with pytest.raises(ApiException) as err:
        _create(widgets, namespace, body)
    assert err.value.status == 422
    assert "spec.size: Required value" in err.value.body


def test_status_subresource(widgets: client.CustomObjectsApi, namespace: str) -> None:
    created = _create(widgets, namespace, {**_widget("st"), "status": {"phase": "ignored"}})
    assert "status" not in created
    updated = widgets.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "st", {"status": {"phase": "Ready"}, "spec": {"size": 9}}
    )
    assert updated["status"] == {"phase": "Ready"}
    assert updated["spec"]["size"] == 2
    assert updated["metadata"]["generation"] == 1
    after = widgets.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "st", {"spec": {"size": 3}, "status": {"phase": "X"}}
    )
    assert after["status"] == {"phase": "Ready"}
    assert after["metadata"]["generation"] == 2


def test_scale_subresource(widgets: client.CustomObjectsApi, namespace: str) -> None:
    _create(widgets, namespace, _widget("sc", replicas=2))
    widgets.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "sc", {"status": {"replicas": 2, "selector": "a=b"}}
    )
    scale = widgets.get_namespaced_custom_object_scale(GROUP, VERSION, namespace, PLURAL, "sc")
    assert scale["spec"]["replicas"] == 2
    assert scale["status"] == {"replicas": 2, "selector": "a=b"}
    widgets.patch_namespaced_custom_object_scale(
        GROUP, VERSION, namespace, PLURAL, "sc", {"spec": {"replicas": 5}}
    )
    obj = widgets.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "sc")
    assert obj["spec"]["replicas"] == 5


def test_put_on_custom_object_needs_resource_version(
    widgets: client.CustomObjectsApi, namespace: str
) -> None:
    created = _create(widgets, namespace, _widget("pv"))
    rv = created["metadata"]["resourceVersion"]
    body = copy.deepcopy(created)
    body["spec"]["size"] = 4
    del body["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as err:
        widgets.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "pv", body)
    assert err.value.status == 422
    body["metadata"]["resourceVersion"] = rv
    replaced = widgets.replace_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "pv", body
    )
    assert replaced["spec"]["size"] == 4


def test_deleting_the_crd_removes_its_objects(
    fresh_apiserver: ServerThread,
) -> None:
    from llmservice_testkit.pytest_plugin import api_client_for

    api_client = api_client_for(fresh_apiserver)
    ext = client.ApiextensionsV1Api(api_client)
    ext.create_custom_resource_definition(yaml.safe_load((DATA / "widgets-crd.yaml").read_text()))
    api = client.CustomObjectsApi(api_client)
    _create(api, "default", _widget("gone"))
    ext.delete_custom_resource_definition(f"{PLURAL}.{GROUP}")
    with pytest.raises(ApiException) as err:
        api.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "gone")
    assert err.value.status == 404


def test_the_projects_crd_registers(fresh_apiserver: ServerThread) -> None:
    if not REAL_CRD.exists():
        pytest.skip(f"{REAL_CRD} is not generated yet")
    from llmservice_testkit.pytest_plugin import api_client_for

    crd = yaml.safe_load(REAL_CRD.read_text())
    api_client = api_client_for(fresh_apiserver)
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    group = crd["spec"]["group"]
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
    plural = crd["spec"]["names"]["plural"]
    resources = client.CustomObjectsApi(api_client).get_api_resources(group, version)
    assert plural in {r.name for r in resources.resources}
    example = REAL_CRD.parents[1] / "examples" / "tinyllama.yaml"
    if example.exists():
        body = yaml.safe_load(example.read_text())
        body["metadata"].pop("namespace", None)
        created = client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            group, version, "default", plural, body
        )
        assert created["metadata"]["generation"] == 1
        assert created["spec"]
