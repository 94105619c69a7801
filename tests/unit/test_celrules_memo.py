"""The CEL rule memo: cached verdicts equal uncached ones, and the memo stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import support
from hypothesis import given, settings
from hypothesis import strategies as st
from llmservice_operator.tools.render import cel as celrules
from llmservice_operator.tools.render.cel import (
    FieldError,
    RuleMemo,
    compile_rule,
    evaluate_validations,
)

INT = {"type": "integer"}


@pytest.fixture
def memo() -> Iterator[RuleMemo]:
    """The process-wide memo, emptied, restored to its bounds afterwards."""
    saved = (celrules.RULE_MEMO.max_entries, celrules.RULE_MEMO.max_key_bytes)
    celrules.RULE_MEMO.clear()
    yield celrules.RULE_MEMO
    celrules.RULE_MEMO.resize(*saved)
    celrules.RULE_MEMO.clear()


def uncached(schema: dict[str, Any], obj: Any, **kwargs: Any) -> list[FieldError]:
    """The evaluation with the memo off (a memo of size 0 in its place, leaving it intact)."""
    kept = celrules.RULE_MEMO
    setattr(celrules, "RULE_MEMO", RuleMemo(max_entries=0))  # noqa: B010 (Final in the module)
    try:
        return evaluate_validations(schema, obj, **kwargs)
    finally:
        setattr(celrules, "RULE_MEMO", kept)  # noqa: B010


def crd_object(spec: dict[str, Any], name: str = "chat") -> dict[str, Any]:
    """What the local API server hands the evaluator: the defaulted body, metadata name only."""
    document = support.api_server_defaults(support.llmservice(spec, name=name))
    body = {k: v for k, v in document.items() if k not in ("apiVersion", "kind", "metadata")}
    return {**body, "metadata": {"name": name}}


# Specs that break each kind of rule in the CRD: messageExpression, fieldPath, map keys,
# lists, quantities, the root rule on metadata.name, and several at once.
SPECS: list[tuple[str, dict[str, Any]]] = [
    ("chat", {}),
    ("chat", {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}),
    ("chat", {"backend": {"port": 11434}}),
    ("chat", {"backend": {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}}),
    ("chat", {"backend": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}}),
    ("chat", {"backend": {"resources": {"requests": {"bad key!": "1"}}}}),
    ("chat", {"service": {"nodePort": 30000}}),
    ("chat", {"model": {"pullPolicy": "Never"}}),
    ("9-not-a-label", {}),
    (
        "chat",
        {
            "backend": {"port": 11434, "env": [{"name": "X", "value": "1", "valueFrom": {}}]},
            "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 1},
        },
    ),
]


@pytest.mark.parametrize(("name", "spec"), SPECS)
def test_cached_verdicts_equal_uncached_ones_on_the_crd(
    memo: RuleMemo, name: str, spec: dict[str, Any]
) -> None:
    obj = crd_object(spec, name)
    expected = uncached(support.SCHEMA, obj)
    first = evaluate_validations(support.SCHEMA, obj)
    hits = memo.stats().hits
    second = evaluate_validations(support.SCHEMA, obj)
    assert first == expected
    assert second == expected
    assert memo.stats().hits > hits  # the second evaluation came from the memo


def test_the_memo_is_exercised_by_failures_too(memo: RuleMemo) -> None:
    spec = {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}
    errors = evaluate_validations(support.SCHEMA, crd_object(spec))
    assert errors
    assert all(e.path.startswith("spec.autoscaling") for e in errors)
    before = memo.stats()
    assert evaluate_validations(support.SCHEMA, crd_object(spec)) == errors
    after = memo.stats()
    assert after.misses == before.misses
    assert after.hits > before.hits


@settings(max_examples=60, deadline=None)
@given(
    low=st.integers(min_value=-3, max_value=12),
    high=st.integers(min_value=-3, max_value=12),
    replicas=st.integers(min_value=0, max_value=3),
    port=st.sampled_from([8080, 11434]),
    names=st.lists(st.sampled_from(["A", "B", "C"]), max_size=3),
)
def test_generated_specs_agree_cached_and_uncached(
    low: int, high: int, replicas: int, port: int, names: list[str]
) -> None:
    spec = {
        "replicas": replicas,
        "autoscaling": {"enabled": True, "minReplicas": low, "maxReplicas": high},
        "backend": {"port": port, "env": [{"name": n, "value": "v"} for n in names]},
    }
    obj = crd_object(spec)
    expected = uncached(support.SCHEMA, obj)
    assert evaluate_validations(support.SCHEMA, obj) == expected
    assert evaluate_validations(support.SCHEMA, obj) == expected


def test_transition_rules_are_keyed_by_the_old_value_too(memo: RuleMemo) -> None:
    schema = {
        "type": "object",
        "properties": {"size": INT},
        "x-kubernetes-validations": [{"rule": "self.size >= oldSelf.size", "message": "shrunk"}],
    }
    new = {"size": 2}
    for old in ({"size": 1}, {"size": 5}, {"size": 1}, {"size": 5}):
        expected = uncached(schema, new, old_obj=old)
        assert evaluate_validations(schema, new, old_obj=old) == expected
    assert evaluate_validations(schema, new) == []  # on create a transition rule is skipped
    assert evaluate_validations(schema, new, old_obj={"size": 5}) == [FieldError("", "shrunk")]


def test_values_json_would_confuse_are_kept_apart(memo: RuleMemo) -> None:
    schema: dict[str, Any] = {
        "x-kubernetes-validations": [{"rule": "self == true", "message": "not true"}]
    }
    assert uncached(schema, True) != uncached(schema, 1)
    for value in (True, 1, 1.0, "true", True, 1):
        assert evaluate_validations(schema, value) == uncached(schema, value)
    # Without a schema type, map keys keep their own type: JSON would write both as "1".
    keyed: dict[str, Any] = {
        "x-kubernetes-validations": [{"rule": "'1' in self", "message": "no key 1"}]
    }
    assert uncached(keyed, {"1": 1}) != uncached(keyed, {1: 1})
    maps: list[dict[Any, int]] = [{"1": 1}, {1: 1}, {"1": 1}, {1: 1}]
    for mapping in maps:
        assert evaluate_validations(keyed, mapping) == uncached(keyed, mapping)


def test_error_paths_follow_the_node_not_the_cached_entry(memo: RuleMemo) -> None:
    """The same value under two paths shares one entry but reports its own path."""
    item = {
        "type": "object",
        "properties": {"a": INT},
        "x-kubernetes-validations": [{"rule": "self.a > 0", "message": "m", "fieldPath": ".a"}],
    }
    schema = {"type": "object", "properties": {"x": item, "y": item}}
    errors = evaluate_validations(schema, {"x": {"a": 0}, "y": {"a": 0}})
    assert errors == [FieldError("x.a", "m"), FieldError("y.a", "m")]
    assert memo.stats().entries == 2  # the subtree under x, and the rule's verdict
    assert memo.stats().hits == 1  # y is x's subtree again


def test_the_memo_is_bounded_in_entries_and_bytes(memo: RuleMemo) -> None:
    schema = {
        "type": "object",
        "properties": {"a": INT, "pad": {"type": "string"}},
        "x-kubernetes-validations": [
            {"rule": "self.a < 1000 && (!has(self.pad) || self.pad.size() >= 0)", "message": "big"}
        ],
    }
    memo.resize(5, 1 << 20)
    for i in range(50):
        evaluate_validations(schema, {"a": i})
    assert memo.stats().entries == 5
    memo.resize(1000, 4000)
    for i in range(50):
        evaluate_validations(schema, {"a": i, "pad": "x" * 500})
    stats = memo.stats()
    assert 0 < stats.key_bytes <= 4000
    assert stats.entries < 50
    # evicted entries are evaluated again, with the same verdict
    assert evaluate_validations(schema, {"a": 2000}) == [FieldError("", "big")]
    memo.resize(0)
    assert memo.stats().entries == 0
    assert evaluate_validations(schema, {"a": 2000}) == [FieldError("", "big")]
    assert memo.stats().entries == 0  # off: nothing kept


def test_rules_compile_once_however_often_they_run(memo: RuleMemo) -> None:
    memo.resize(0)
    schema = {
        "type": "object",
        "properties": {"a": INT},
        "x-kubernetes-validations": [{"rule": "self.a != 424242", "message": "m"}],
    }
    evaluate_validations(schema, {"a": 1})
    misses = compile_rule.cache_info().misses
    for i in range(20):
        evaluate_validations(schema, {"a": i})
    assert compile_rule.cache_info().misses == misses


# --------------------------------------------------------------------------------------
# rules keyed by the part of self they read


@pytest.mark.parametrize(
    ("expression", "paths"),
    [
        ("self.metadata.name.matches('^a$')", {("metadata", "name")}),
        ("has(self.a.b) && self.c[0] == 1", {("a", "b"), ("c",)}),
        ("self.x__dash__y == 1 || self.a.b.c > 2", {("x__dash__y",), ("a", "b", "c")}),
        ("self.all(k, k != 'x')", None),
        ("self == 1", None),
        ("size(self) > 0 && self.a == 1", None),
        ("[1].all(x, x == 1)", set()),
    ],
)
def test_what_a_rule_reads_of_self(expression: str, paths: set[tuple[str, ...]] | None) -> None:
    found = celrules._rule_paths(expression, None)
    assert (set(found) if found is not None else None) == paths


def test_a_message_expression_reading_all_of_self_keys_the_rule_by_all_of_it() -> None:
    assert celrules._rule_paths("self.a == 1", "'bad ' + string(self)") is None
    assert celrules._rule_paths("self.a == 1", "'bad ' + self.b") == frozenset({("a",), ("b",)})


def test_the_root_rule_is_keyed_by_the_name_only(memo: RuleMemo) -> None:
    """A status write does not change what the root rule on metadata.name reads."""
    first = crd_object({})
    evaluate_validations(support.SCHEMA, first)
    entries = memo.stats().entries
    for phase in ("Pending", "Ready", "Degraded"):
        changed = {**first, "status": {"phase": phase, "ready": "0/1"}}
        assert evaluate_validations(support.SCHEMA, changed) == uncached(support.SCHEMA, changed)
    assert memo.stats().entries == entries  # every rule's part of the value was seen before
    renamed = crd_object({}, name="9-bad")
    assert evaluate_validations(support.SCHEMA, renamed) == uncached(support.SCHEMA, renamed)
    assert evaluate_validations(support.SCHEMA, renamed) != []


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"a": {}},
        {"a": None},
        {"a": {"b": 1}, "c": 2},
        {"a": {"b": 2}, "c": 3},
        {"a": {"b": "x"}},
        {"a": 5},
        {"c": 1, "a": {"z": 1, "b": 1}},
    ],
)
def test_a_partial_key_gives_the_same_verdicts_and_errors(memo: RuleMemo, value: Any) -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-validations": [
            {"rule": "self.a.b == 1", "messageExpression": "'b is ' + string(self.a.b)"},
            {"rule": "has(self.a.b)", "message": "no b"},
            {"rule": "!has(self.c) || self.c < 3", "message": "c too big"},
        ],
    }
    expected = uncached(schema, value)
    assert evaluate_validations(schema, value) == expected
    assert evaluate_validations(schema, value) == expected


def test_escaped_property_names_are_kept_in_the_part(memo: RuleMemo) -> None:
    schema = {
        "type": "object",
        "properties": {"x-y": INT, "namespace": {"type": "string"}, "pad": INT},
        "x-kubernetes-validations": [
            {"rule": "self.x__dash__y > 0 && self.__namespace__ == 'ns'", "message": "m"}
        ],
    }
    for value in (
        {"x-y": 1, "namespace": "ns", "pad": 1},
        {"x-y": 1, "namespace": "ns", "pad": 2},
        {"x-y": 0, "namespace": "ns", "pad": 3},
        {"x-y": 1, "namespace": "other", "pad": 4},
        {"namespace": "ns"},
    ):
        assert evaluate_validations(schema, value) == uncached(schema, value)
    assert memo.stats().hits == 1  # pad is not read: the second value shares the first's entry


# --------------------------------------------------------------------------------------
# whole subtrees


NESTED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": INT,
                "limits": {
                    "type": "object",
                    "additionalProperties": INT,
                    "x-kubernetes-validations": [
                        {"rule": "self.all(k, self[k] >= 0)", "message": "negative limit"}
                    ],
                },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"n": INT},
                        "x-kubernetes-validations": [
                            {"rule": "self.n < 5", "message": "n too big", "fieldPath": ".n"}
                        ],
                    },
                },
                "named": {  # a property named "": paths end in "." (edge of rebasing)
                    "type": "object",
                    "properties": {
                        "": {
                            "type": "integer",
                            "x-kubernetes-validations": [{"rule": "self < 1", "message": "e"}],
                        }
                    },
                },
            },
            "x-kubernetes-validations": [
                {"rule": "self.size >= oldSelf.size", "message": "cannot shrink"},
                {"rule": "!has(self.size) || self.size < 10", "message": "too big"},
            ],
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}

specs = st.fixed_dictionaries(
    {"size": st.integers(0, 12)},
    optional={
        "limits": st.dictionaries(st.sampled_from(["cpu", "mem", "a.b"]), st.integers(-1, 2)),
        "items": st.lists(st.fixed_dictionaries({"n": st.integers(3, 6)}), max_size=3),
        "named": st.fixed_dictionaries({"": st.integers(0, 2)}),
    },
)


@settings(max_examples=80, deadline=None)
@given(
    spec=specs,
    old_spec=st.none() | specs,
    phase=st.sampled_from(["A", "B"]),
    root=st.sampled_from(["", "obj", "a.b"]),
)
def test_subtree_verdicts_agree_cached_and_uncached(
    spec: dict[str, Any], old_spec: dict[str, Any] | None, phase: str, root: str
) -> None:
    obj = {"spec": spec, "status": {"phase": phase}}
    kwargs: dict[str, Any] = {} if old_spec is None else {"old_obj": {"spec": old_spec}}
    expected = uncached(NESTED, obj, root_path=root, **kwargs)
    assert evaluate_validations(NESTED, obj, root, **kwargs) == expected
    assert evaluate_validations(NESTED, obj, root, **kwargs) == expected


def test_a_status_change_reuses_the_spec_subtree(memo: RuleMemo) -> None:
    spec = {"size": 11, "items": [{"n": 9}], "limits": {"cpu": -1}}
    first = evaluate_validations(NESTED, {"spec": spec, "status": {"phase": "A"}})
    assert [e.path for e in first] == ["spec", "spec.limits", "spec.items[0].n"]
    assert [e.path for e in evaluate_validations(NESTED, {"spec": {"named": {"": 2}}})] == [
        "spec.named."
    ]
    misses = memo.stats().misses
    again = evaluate_validations(NESTED, {"spec": spec, "status": {"phase": "B"}})
    assert again == first
    assert memo.stats().misses == misses  # the spec's errors came whole from the memo
