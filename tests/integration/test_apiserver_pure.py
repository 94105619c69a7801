"""Properties of the local API server's pure parts: patches, apply, selectors, schemas."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from llmservice_testkit.emulator import patching, schemas, selectors, ssa
from llmservice_testkit.emulator.errors import ApiError

keys = st.sampled_from(["a", "b", "c", "d"])
scalars = st.one_of(st.integers(-5, 5), st.text("xyz", max_size=3), st.booleans())
documents = st.recursive(
    scalars, lambda inner: st.dictionaries(keys, inner, max_size=3), max_leaves=12
)
objects = st.dictionaries(keys, documents, max_size=4)


@given(objects, objects)
def test_merge_patch_sets_every_patched_leaf(target: dict[str, Any], patch: dict[str, Any]) -> None:
    result = patching.merge_patch(target, patch)
    for key, value in patch.items():
        if isinstance(value, dict):
            assert isinstance(result[key], dict)
        else:
            assert result[key] == value
    for key in set(target) - set(patch):
        assert result[key] == target[key]


@given(objects)
def test_merge_patch_with_itself_is_identity(obj: dict[str, Any]) -> None:
    assert patching.merge_patch(obj, obj) == obj


@given(objects)
def test_apply_twice_is_a_noop(config: dict[str, Any]) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, **config}
    once = ssa.apply(None, body, "m", False, "v1", "t1")
    twice = ssa.apply(once, body, "m", False, "v1", "t2")
    assert twice == once


@given(objects, objects)
def test_apply_keeps_what_others_own(mine: dict[str, Any], theirs: dict[str, Any]) -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    first = ssa.apply(None, {**base, "data": theirs}, "other", False, "v1", "t")
    result = ssa.apply(first, {**base, "spec": mine}, "me", False, "v1", "t")
    assert result["data"] == theirs
    assert result["spec"] == mine


def test_apply_conflict_names_manager_and_field() -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    first = ssa.apply(None, {**base, "data": {"k": "1"}}, "other", False, "v1", "t")
    with pytest.raises(ApiError, match=r'conflict with "other": \.data\.k'):
        ssa.apply(first, {**base, "data": {"k": "2"}}, "me", False, "v1", "t")
    forced = ssa.apply(first, {**base, "data": {"k": "2"}}, "me", True, "v1", "t")
    assert forced["data"] == {"k": "2"}
    assert [e["manager"] for e in forced["metadata"]["managedFields"]] == ["me"]


label_values = st.text("abc", min_size=1, max_size=3)


@given(
    st.dictionaries(st.sampled_from(["app", "tier", "x"]), label_values, max_size=3),
    st.sampled_from(["app", "tier", "x"]),
    label_values,
)
def test_selector_operators_agree_with_their_meaning(
    labels: dict[str, str], key: str, value: str
) -> None:
    def match(text: str) -> bool:
        return selectors.match_labels(selectors.parse_label_selector(text), labels)

    assert match(f"{key}={value}") == (labels.get(key) == value)
    assert match(f"{key}!={value}") == (labels.get(key) != value)
    assert match(f"{key} in ({value},zzz)") == (labels.get(key) in (value, "zzz"))
    assert match(f"{key} notin ({value})") == (labels.get(key) != value)
    assert match(key) == (key in labels)
    assert match(f"!{key}") == (key not in labels)


def test_schema_admit_prunes_defaults_and_reports_paths() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "minimum": 1, "default": 2},
                    "items": {"type": "array", "items": {"type": "string", "maxLength": 2}},
                },
            }
        },
    }
    dropped: list[str] = []
    obj, errors = schemas.admit(
        schema,
        {"metadata": {"name": "x"}, "spec": {"items": ["ok", "long"], "z": 1}},
        dropped=dropped,
    )
    assert obj["spec"]["n"] == 2
    assert "z" not in obj["spec"]
    assert dropped == ["spec.z"]
    assert [path for path, _ in errors] == ["spec.items[1]"]
