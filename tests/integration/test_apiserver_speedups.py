"""The local API server's shortcuts give what the long way gives: built-in kinds checked
property by property with a memo against the whole-object check, and fast copies."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from llmservice_testkit.emulator import builtin_validation
from llmservice_testkit.emulator.clone import clone


def whole_object_errors(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """The check as it was before the split: one jsonschema validator over the whole object."""
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    version = builtin_validation.SCHEMA_VERSION
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    group_version = str(obj["apiVersion"]).replace("/", "-")
    schema = utils.schema_contents(f"{folder}/{obj['kind'].lower()}-{group_version}.json", version)
    definitions = utils.schema_contents(f"{folder}/_definitions.json", version)
    registry: Any = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [
        (builtin_validation._path(tuple(e.absolute_path)), f"Invalid value: {e.message}")
        for e in errors[:10]
    ]


def deployment(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "n", "labels": {"app": "d"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "i:1"}]},
            },
        },
        "status": {"replicas": 2, "readyReplicas": 2},
    }
    obj.update(changes)
    return obj


BROKEN: list[dict[str, Any]] = [
    deployment(),
    deployment(unknownTopLevel=1),
    deployment(spec={"replicas": "two"}),  # wrong type, and no selector or template
    deployment(metadata={"name": "d", "labels": {"app": 5}}),
    deployment(status={"replicas": "x", "bogus": True}),
    deployment(spec=None, status=[], metadata={"name": 1}, extra={"a": 1}),
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "no-spec"}},
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": "x"}]}]},
        "status": {"phase": 3},
    },
    deployment(
        spec={
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {
                    "initContainers": [{"name": "c", "image": 1, "restartPolicy": "Always"}],
                    "containers": [
                        {"name": "c", "image": 1},
                        {"name": "e", "env": [{"name": "A", "value": 1}, {"value": "x"}]},
                    ],
                    "volumes": [{"name": "v", "emptyDir": {"sizeLimit": []}}],
                },
            },
        }
    ),
    {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "ownerReferences": [{"uid": 1}]},
        "spec": {"maxReplicas": "3", "scaleTargetRef": {"kind": "Deployment"}, "metrics": [{}]},
        "status": {"currentReplicas": 1, "conditions": [{"type": "X"}]},
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080, "bogus": 1}] * 12},
    },
    {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "b"},
        "spec": {"maxUnavailable": [1], "selector": {"matchLabels": {"app": 1}}, "x": 1},
    },
]


@pytest.mark.parametrize("obj", BROKEN)
def test_property_checks_with_the_memo_equal_the_whole_object_check(obj: dict[str, Any]) -> None:
    builtin_validation._MEMO.clear()
    expected = whole_object_errors(obj)
    assert builtin_validation.validate(copy.deepcopy(obj)) == expected
    hits = builtin_validation._MEMO.hits
    assert builtin_validation.validate(copy.deepcopy(obj)) == expected  # from the memo
    assert builtin_validation._MEMO.hits > hits


@pytest.mark.parametrize("kind", sorted(builtin_validation.VALIDATED_KINDS))
def test_every_validated_kind_is_checked_node_by_node(kind: str) -> None:
    api_version = {
        "Deployment": "apps/v1",
        "HorizontalPodAutoscaler": "autoscaling/v2",
        "PodDisruptionBudget": "policy/v1",
    }
    schemas = builtin_validation._schemas(kind, api_version.get(kind, "v1"))
    assert schemas is not None
    level, _, _ = schemas.validators(schemas.root)
    assert level is not None  # the top level is split, so sub-objects are memoized


def test_a_memoized_sub_object_reports_errors_at_each_place_it_appears() -> None:
    """The same container under initContainers and containers: one memo entry, two paths."""
    builtin_validation._MEMO.clear()
    container = {"name": "c", "image": 5}
    obj = deployment()
    obj["spec"]["template"]["spec"] = {
        "initContainers": [container],
        "containers": [dict(container), dict(container)],
    }
    errors = builtin_validation.validate(obj)
    assert errors == whole_object_errors(obj)
    assert [path for path, _ in errors] == [
        "spec.template.spec.containers[0].image",
        "spec.template.spec.containers[1].image",
        "spec.template.spec.initContainers[0].image",
    ]


def test_invalid_objects_are_still_rejected_with_their_fields() -> None:
    errors = builtin_validation.validate(deployment(spec={"replicas": "two"}))
    paths = [path for path, _ in errors]
    assert "spec.replicas" in paths
    assert "spec" in paths  # the required selector and template


def test_the_validation_memo_is_bounded() -> None:
    memo = builtin_validation._MEMO
    saved = memo.max_entries
    memo.clear()
    memo.max_entries = 4
    try:
        for i in range(20):
            builtin_validation.validate(deployment(status={"replicas": i}))
        assert len(memo) == 4
    finally:
        memo.max_entries = saved
        memo.clear()


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(json_values)
def test_clone_is_an_equal_independent_copy(value: Any) -> None:
    copied = clone(value)
    assert repr(copied) == repr(value)  # repr: NaN is not equal to itself
    if isinstance(value, (dict, list)):
        assert copied is not value


def test_clone_shares_nothing_mutable_and_keeps_types() -> None:
    original = {"a": [1, {"b": True}], "t": (1, 2), "f": 1.0}
    copied = clone(original)
    copied["a"][1]["b"] = False
    assert original["a"][1]["b"] is True
    assert type(copied["t"]) is tuple
    assert type(copied["f"]) is float


def test_clone_falls_back_for_what_marshal_cannot_write() -> None:
    class Labelled(dict[str, Any]):
        pass

    original = {"x": Labelled(a=[1])}
    copied = clone(original)
    assert type(copied["x"]) is Labelled
    assert copied == original
    assert copied["x"]["a"] is not original["x"]["a"]


def test_item_segments_keep_json_types() -> None:
    from llmservice_testkit.emulator import ssa

    segments = [
        next(p for p in ssa.leaves({"spec": {"ports": [{"containerPort": v}]}}) if p[-1] == ".")[2]
        for v in (1, 1.0, True, "1", 1)
    ]
    assert segments == [
        'k:{"containerPort":1}',
        'k:{"containerPort":1.0}',
        'k:{"containerPort":true}',
        'k:{"containerPort":"1"}',
        'k:{"containerPort":1}',
    ]


def managed(server: Any, path: str) -> list[tuple[str, str, Any]]:
    body = httpx.get(server.url + path, timeout=30).json()
    return [
        (e["manager"], e["operation"], e.get("fieldsV1"))
        for e in body["metadata"].get("managedFields", [])
    ]


def test_managed_fields_are_the_same_with_and_without_the_leaves_cache(
    fresh_apiserver: Any,
) -> None:
    """The server reuses the leaves of the stored version; a server that recomputes them
    every time (cache of size 0) must end with the same managedFields."""
    results = []
    for size in (4096, 0):
        fresh_apiserver.call(lambda api: api._leaves.clear())
        fresh_apiserver.call(lambda api, n=size: setattr(api._leaves, "max_entries", n))
        name = f"cm-{size}"
        base = "/api/v1/namespaces/default/configmaps"
        httpx.post(
            fresh_apiserver.url + base,
            json={"metadata": {"name": name}, "data": {"a": "1"}},
            headers={"User-Agent": "first/1"},
            timeout=30,
        ).raise_for_status()
        for agent, patch in [
            ("second/1", {"data": {"b": "2"}}),
            ("first/1", {"data": {"a": "3", "c": "4"}}),
            ("second/1", {"data": {"b": None}, "metadata": {"labels": {"x": "y"}}}),
            ("third/1", {"data": {"a": "5"}}),
        ]:
            httpx.patch(
                f"{fresh_apiserver.url}{base}/{name}",
                json=patch,
                headers={"User-Agent": agent, "Content-Type": "application/merge-patch+json"},
                timeout=30,
            ).raise_for_status()
        results.append(managed(fresh_apiserver, f"{base}/{name}"))
        hits = fresh_apiserver.call(lambda api: api._leaves.hits)
        assert (hits > 0) == (size > 0)
    assert results[0] == results[1]
    assert [m for m, _, _ in results[0]] == ["first", "second", "third"]


def test_list_and_frame_texts_are_what_json_dumps_gives() -> None:
    import json

    from llmservice_testkit.emulator import jsoncache

    items = [{"metadata": {"uid": "u1", "resourceVersion": "5"}, "x": [1, "é", None]}, {"a": {}}]
    envelope = {"kind": "XList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}}
    cache = jsoncache.JsonCache()
    texts = [cache.dumps(o) for o in items]
    assert jsoncache.list_body(envelope, texts) == json.dumps({**envelope, "items": items}).encode()
    assert jsoncache.list_body(envelope, []) == json.dumps({**envelope, "items": []}).encode()
    frame = jsoncache.watch_frame("MODIFIED", cache.dumps(items[0]))
    assert frame == json.dumps({"type": "MODIFIED", "object": items[0]}).encode() + b"\n"
    assert cache.dumps(items[0]) is texts[0]  # kept by uid and resourceVersion


def test_lists_and_gets_show_each_new_version(fresh_apiserver: Any) -> None:
    base = f"{fresh_apiserver.url}/api/v1/namespaces/default/configmaps"
    httpx.post(base, json={"metadata": {"name": "c"}, "data": {"v": "0"}}).raise_for_status()
    for v in range(1, 4):
        httpx.patch(
            f"{base}/c",
            json={"data": {"v": str(v)}},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()
        assert httpx.get(f"{base}/c").json()["data"] == {"v": str(v)}
        assert httpx.get(base).json()["items"][0]["data"] == {"v": str(v)}
        assert httpx.get(base).json()["items"][0]["data"] == {"v": str(v)}
    assert fresh_apiserver.call(lambda api: api.json_texts.hits) > 0
